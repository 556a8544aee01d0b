/**
 * A DC/OS cluster's worth of pxd-auth-proxy agents in one process, for the cluster section of the
 * bench (bench/cluster.ts):
 *   - one DC/OS double (IAM login + Secret Store over HTTPS with a CA), shared by every agent;
 *   - one pxd double behind every agent (auth on: it checks each forwarded token);
 *   - N agents, each a RunningProxy (src/app.ts) started as `serve` starts one: the configuration
 *     loaded from a YAML file shaped like plugin/pxd-auth-proxy.yaml and the service account from the
 *     environment, its own plugin socket and state folder; it logs in to DC/OS as it starts;
 *   - on each agent a small steady stream of Docker calls (dvdcli's: Get, Mount and Unmount of one of
 *     its volumes by its bare name, no mount ID), at jittered intervals, each on a fresh connection as
 *     dvdcli makes them.
 *
 * Volumes and secrets: T tenants, each with a token in the Secret Store under the base path
 * (pwx/secrets/cluster/tenant-NN); V volumes, volume v belonging to tenant v mod T and created once,
 * with `-o token_secret=cluster/tenant-NN`, through another agent than most of those that mount it: the
 * proxy records the reference in the volume reference registry (pxd-auth-proxy/volumes/<volume> in
 * the Secret Store), and every other agent finds it there. Every agent mounts a few volumes, each of
 * another tenant, so every agent reads that many registry records and that many secrets per cache TTL.
 *
 * Each agent's DC/OS store is built here as `serve` builds it (createDcosSecretStore, same
 * configuration and logger) and handed to RunningProxy.start(), which then leaves the start-up login
 * to us: the fleet calls warm() right after start(), as start() would, and notes when warm()'s jittered
 * login fires (see Agent.warmAt), so that a login can be told apart from one a request forced.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { RunningProxy } from '../src/app.js';
import { createLogger } from '../src/audit/logger.js';
import { loadConfig } from '../src/config/load.js';
import { DEFAULT_REFERENCES_FOLDER, WARM_JITTER_MS, createDcosSecretStore } from '../src/secrets/dcos/index.js';
import { startDcosDouble, type DcosDouble } from '../test/doubles/dcos/server.js';
import { makeRsaKeyPair, makeTestPki, type TestPki } from '../test/doubles/dcos/pki.js';
import { startPxdDouble, type PxdDouble } from '../test/doubles/pxd/server.js';
import { ISSUER, SHARED_SECRET, shippedYaml } from './stack.js';
import { benchToken } from './tokens.js';

const SA = 'pxd-auth-cluster';
/** Under the base path (pwx/secrets): token_secret=cluster/tenant-03 reads pwx/secrets/cluster/tenant-03. */
const TENANT_SECRET = (k: number): string => `cluster/tenant-${String(k).padStart(2, '0')}`;
const VOLUME = (v: number): string => `cvol${String(v).padStart(3, '0')}`;
/** Where the proxy records -o token_secret references (its default, --references-path). */
export const REGISTRY_FOLDER = DEFAULT_REFERENCES_FOLDER;

export interface FleetOptions {
  dir: string;
  agents: number;
  /** Tenants (one token secret each) and volumes (volume v belongs to tenant v mod tenants). */
  tenants: number;
  volumes: number;
  /** Volumes each agent mounts, each of another tenant. */
  volumesPerAgent: number;
  /** The secret cache TTL of every agent (PXD_AUTH_SECRET_CACHE_TTL; shipped default 60). */
  cacheTtlSec: number;
  /** Latency of every DC/OS answer. */
  dcosLatencyMs: number;
  /** Mean time between two Mounts on one agent (each interval drawn from 0.5× to 1.5× of it). */
  mountEveryMs: number;
  /**
   * How agents name volumes. `bare` (`cvol007`), as Marathon's dvdi/token_secret and dvdcli have it:
   * created once with `-o token_secret=cluster/tenant-03`, then mounted by its bare name (Get, then
   * Mount with no ID), which a fresh agent resolves with one registry read and one secret read.
   * `inline`: `token_secret=cluster/tenant-03,name=cvol007` in every call (Mount with a dockerd ID),
   * one secret read and no registry.
   */
  names: 'inline' | 'bare';
  /** Longest random delay of each agent's start-up login (default: the shipped WARM_JITTER_MS, 10 s). */
  warmJitterMs?: number;
}

export interface Volume {
  index: number;
  tenant: number;
  /** What the agents send as Name. */
  name: string;
  /** The agent the volume is created through. */
  owner: number;
}

export interface Agent {
  index: number;
  socket: string;
  stateDir: string;
  volumes: Volume[];
  proxy: RunningProxy | undefined;
  /** Streams skip their turn while an agent is down (being restarted). */
  up: boolean;
  inflight: Promise<void> | undefined;
  /** performance.now() of the last start(). */
  startedAt: number;
  /** When the start-up login of warm() fired after the last start() (undefined: not yet). */
  warmAt: number | undefined;
  /** When the first Mount after the last start() was sent (undefined: none yet). */
  firstMountAt: number | undefined;
}

/** Why an agent logged in after a start: its own warm() (jittered), or a request that needed DC/OS first. */
export interface LoginCause {
  agent: number;
  cause: 'warm' | 'request';
  /** performance.now() when the login was asked for: warm()'s moment or the first Mount's. */
  t: number;
}

export interface CallRecord {
  /** performance.now() at the end of the Mount. */
  t: number;
  ms: number;
  ok: boolean;
}

/**
 * The Name agents send for a volume. Bare: created once with `-o token_secret=...` on its owner agent;
 * every other agent mounts it by a name it has never seen, and its first Mount of it reads the registry
 * in the DC/OS Secret Store (one read per volume per agent, cached for the secret cache TTL).
 */
export function volumeName(vol: Pick<Volume, 'index' | 'tenant'>, names: FleetOptions['names']): string {
  if (names === 'bare') return VOLUME(vol.index);
  return `token_secret=${TENANT_SECRET(vol.tenant)},name=${VOLUME(vol.index)}`;
}

/** The registry record of a volume, as the DC/OS double keys its counters (decoded path). */
export const registryPath = (vol: Pick<Volume, 'index'>): string => `${REGISTRY_FOLDER}/${VOLUME(vol.index)}`;
/** The token secret of a volume's tenant, as the DC/OS double keys its counters. */
export const secretPath = (vol: Pick<Volume, 'tenant'>): string => `pwx/secrets/${TENANT_SECRET(vol.tenant)}`;

/** What a burst of Mounts on one agent cost (Fleet.burst()). */
export interface BurstResult {
  agent: number;
  volumes: number;
  mounts: number;
  failed: number;
  wallMs: number;
  /** DC/OS GETs during the burst, per volume's registry record and per token secret (most for any one). */
  registryReads: number;
  registryReadsMaxPerVolume: number;
  secretReads: number;
  secretReadsMaxPerSecret: number;
}

/** dockerd's mount IDs: 64 lowercase hex characters. */
const mountId = (tag: string): string => createHash('sha256').update(tag).digest('hex');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type PluginReply = { Err?: string; Mountpoint?: string; Volume?: { Name?: string } };

/** One plugin call as dvdcli makes it: a fresh connection, JSON body. */
function call(socketPath: string, endpoint: string, body: unknown): Promise<PluginReply> {
  const payload = JSON.stringify(body) + '\n';
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        method: 'POST',
        path: `/${endpoint}`,
        headers: { Host: '', Accept: 'application/vnd.docker.plugins.v1.2+json', 'Content-Length': Buffer.byteLength(payload) },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve(JSON.parse(text) as PluginReply);
          } catch {
            resolve({ Err: `HTTP ${res.statusCode}: ${text.slice(0, 200)}` });
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export class Fleet {
  readonly opts: FleetOptions;
  readonly dcos: DcosDouble;
  readonly pxd: PxdDouble;
  readonly agents: Agent[];
  readonly volumes: Volume[];
  /** Every Mount of the streams, in order. */
  readonly mounts: CallRecord[] = [];
  /** The first few failures, for the report. */
  readonly failures: string[] = [];
  /** warn and error lines of all agents (their info lines, the audit lines among them, are not kept). */
  readonly warnings: string[] = [];
  readonly #pki: TestPki;
  readonly #configFile: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #logger: Logger;
  #streaming = false;
  #streams: Array<Promise<void>> = [];
  readonly #clock: NodeJS.Timeout;

  private constructor(opts: FleetOptions, dcos: DcosDouble, pxd: PxdDouble, pki: TestPki, configFile: string, env: NodeJS.ProcessEnv) {
    this.opts = opts;
    this.dcos = dcos;
    this.pxd = pxd;
    this.#pki = pki;
    this.#configFile = configFile;
    this.#env = env;
    // The double's clock stands still at its start unless moved, and an auth token is {uid, exp} signed
    // with RS256: every login would get the very same token, so the first login after revokeAll() would
    // make every revoked token valid again. Follow the wall clock, as DC/OS does.
    this.#clock = setInterval(() => dcos.clock.set(Date.now()), 100);
    const warnings = this.warnings;
    this.#logger = createLogger({
      level: 'warn',
      destination: {
        write(line: string) {
          if (warnings.length < 1_000) warnings.push(line);
        },
      },
    });
    this.volumes = Array.from({ length: opts.volumes }, (_, v) => {
      const tenant = v % opts.tenants;
      return { index: v, tenant, name: volumeName({ index: v, tenant }, opts.names), owner: (v + 1) % opts.agents };
    });
    // Agent a mounts volumes (a + 7j) mod V for j < volumesPerAgent: with 20 volumes and 10 tenants,
    // four volumes of four different tenants, and (for agents 20 and up) never one it created.
    this.agents = Array.from({ length: opts.agents }, (_, a) => {
      const dir = path.join(opts.dir, `agent-${String(a).padStart(4, '0')}`);
      mkdirSync(dir, { recursive: true });
      const volumes: Volume[] = [];
      for (let j = 0; volumes.length < opts.volumesPerAgent && j < opts.volumes; j++) {
        const vol = this.volumes[(a + 7 * j) % opts.volumes]!;
        if (!volumes.some((x) => x.tenant === vol.tenant)) volumes.push(vol);
      }
      return {
        index: a,
        socket: path.join(dir, 'p.sock'),
        stateDir: path.join(dir, 'state'),
        volumes,
        proxy: undefined,
        up: false,
        inflight: undefined,
        startedAt: 0,
        warmAt: undefined,
        firstMountAt: undefined,
      };
    });
  }

  static async create(opts: FleetOptions): Promise<Fleet> {
    mkdirSync(opts.dir, { recursive: true });
    const pki = makeTestPki();
    const sa = makeRsaKeyPair();
    const keyFile = path.join(opts.dir, 'sa.pem');
    writeFileSync(keyFile, sa.pkcs8Pem, { mode: 0o600 });
    const secrets: Record<string, string> = {};
    for (let k = 0; k < opts.tenants; k++) secrets[`pwx/secrets/${TENANT_SECRET(k)}`] = await benchToken(`tenant-${k}`);
    const dcos = await startDcosDouble({
      tls: { serverKeyPem: pki.serverKeyPem, serverCertPem: pki.serverCertPem },
      serviceAccounts: { [SA]: sa.publicKeyPem },
      secrets,
      grants: { [SA]: ['dcos:secrets:default:/pwx/secrets/* read', 'dcos:secrets:default:/pxd-auth-proxy/volumes/* full'] },
      slowMs: opts.dcosLatencyMs,
    });
    const mountsRoot = path.join(opts.dir, 'mounts');
    mkdirSync(mountsRoot, { recursive: true });
    const pxdSocket = path.join(opts.dir, 'pxd.sock');
    const pxd = await startPxdDouble({
      socketPath: pxdSocket,
      auth: { issuers: [{ name: ISSUER, sharedSecret: SHARED_SECRET }] },
      mountsRoot,
      defaultSize: '1G',
    });
    const sharedSecretFile = path.join(opts.dir, 'shared-secret');
    writeFileSync(sharedSecretFile, SHARED_SECRET, { mode: 0o600 });
    // As plugin/pxd-auth-proxy.yaml has it on an agent (bench/stack.ts writes the same for the bin).
    const configFile = path.join(opts.dir, 'pxd-auth-proxy.yaml');
    writeFileSync(
      configFile,
      shippedYaml({
        backendSocket: pxdSocket,
        mountsRoot,
        sharedSecretFile,
        dcosUrl: dcos.url,
        caFile: pki.ca.certFile,
        secretsBasePath: 'pwx/secrets',
        cacheTtlSec: opts.cacheTtlSec,
        logLevel: 'warn',
      }),
    );
    const env = { DCOS_SERVICE_ACCOUNT: SA, DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: keyFile };
    return new Fleet(opts, dcos, pxd, pki, configFile, env);
  }

  /**
   * Start one agent as `serve` does: it listens, then logs in to DC/OS in the background, at a random
   * moment within the start-up jitter (warm()), or at once if a request needs DC/OS before then.
   */
  async start(a: Agent): Promise<void> {
    const { config, problems } = loadConfig({
      flags: { config: this.#configFile, socket: a.socket, stateDir: a.stateDir },
      env: this.#env,
    });
    if (!config) throw new Error(`agent ${a.index}: configuration refused: ${problems.join('; ')}`);
    if (config.secrets.kind !== 'dcos') throw new Error(`agent ${a.index}: expected the DC/OS store`);
    const logger = this.#logger.child({ agent: a.index });
    // As createSecretStore() (src/app.ts) builds it, with the jitter this fleet runs with.
    const store = createDcosSecretStore(config.secrets.dcos, logger.child({ component: 'dcos' }), {
      warmJitterMs: this.opts.warmJitterMs ?? WARM_JITTER_MS,
    });
    // warm()'s timer calls ready() when it fires, and nothing else here does (no admin listener):
    // note the moment, then do what ready() does.
    const ready = store.ready.bind(store);
    store.ready = () => {
      a.warmAt ??= performance.now();
      return ready();
    };
    a.warmAt = undefined;
    a.firstMountAt = undefined;
    a.startedAt = performance.now();
    a.proxy = await RunningProxy.start(config, logger, { secrets: store });
    // RunningProxy.start() warms the store it builds, not one it is given: do it here, as it would.
    store.warm();
    a.up = true;
  }

  /**
   * Why each agent logged in after its last start: warm() if its jittered login fired before the
   * agent's first Mount (or with no Mount yet), else that Mount (the login is asked for at once).
   * One login per agent: a fresh store logs in once, and nothing is revoked in between.
   */
  loginCauses(): LoginCause[] {
    return this.agents.flatMap((a): LoginCause[] => {
      const warm = a.warmAt;
      const mount = a.firstMountAt;
      if (warm === undefined && mount === undefined) return [];
      if (mount === undefined || (warm !== undefined && warm <= mount)) return [{ agent: a.index, cause: 'warm', t: warm! }];
      return [{ agent: a.index, cause: 'request', t: mount }];
    });
  }

  async stop(a: Agent): Promise<void> {
    a.up = false;
    await a.inflight;
    await a.proxy?.close();
    a.proxy = undefined;
  }

  /** Every agent at once (no stagger: as when a whole cluster boots, or the package is upgraded everywhere together). */
  async startAll(): Promise<void> {
    await Promise.all(this.agents.map((a) => this.start(a)));
  }

  async stopAll(): Promise<void> {
    for (const a of this.agents) a.up = false;
    await Promise.all(this.agents.map((a) => this.stop(a)));
  }

  /** Every volume, once, through its owner agent. */
  async createVolumes(): Promise<void> {
    for (const vol of this.volumes) {
      const owner = this.agents[vol.owner]!;
      // Bare: `docker volume create -d pxd -o token_secret=cluster/tenant-03 cvol003`; the proxy records it.
      const Opts = this.opts.names === 'bare' ? { token_secret: TENANT_SECRET(vol.tenant) } : null;
      const r = await call(owner.socket, 'VolumeDriver.Create', { Name: vol.name, Opts });
      if (r.Err !== '') throw new Error(`Create ${vol.name} through agent ${owner.index}: ${r.Err}`);
    }
  }

  /**
   * The streams of Mounts. Each agent begins after a random delay up to `spreadMs`: its cached secrets
   * then expire at moments of their own, as on agents that have been running for a while.
   */
  startStreams(spreadMs: number): void {
    this.#streaming = true;
    this.#streams = this.agents.map((a) => this.#stream(a, Math.random() * spreadMs));
  }

  async stopStreams(): Promise<void> {
    this.#streaming = false;
    await Promise.all(this.#streams);
  }

  async #stream(a: Agent, delayMs: number): Promise<void> {
    await sleep(delayMs);
    let slot = Math.floor(Math.random() * a.volumes.length);
    while (this.#streaming) {
      if (a.up) {
        const vol = a.volumes[slot]!;
        slot = (slot + 1) % a.volumes.length;
        a.inflight = this.#cycle(a, vol);
        await a.inflight;
        a.inflight = undefined;
      }
      await sleep(this.opts.mountEveryMs * (0.5 + Math.random()));
    }
  }

  /**
   * Mount then Unmount, as a container's start and stop. Bare names as dvdcli sends them: Get, then
   * Mount and Unmount with no ID; inline names as dockerd: Mount and Unmount with an ID. The time
   * recorded is the Mount's. Failures are counted, never thrown.
   */
  async #cycle(a: Agent, vol: Volume, record: CallRecord[] = this.mounts): Promise<void> {
    const bare = this.opts.names === 'bare';
    const ID = bare ? undefined : mountId(`agent-${a.index}-${vol.index}`);
    let name = vol.name;
    let t0 = performance.now();
    let ok = false;
    const fail = (what: string): void => {
      if (this.failures.length < 10) this.failures.push(`agent ${a.index} ${what}`);
    };
    try {
      if (bare) {
        const g = await call(a.socket, 'VolumeDriver.Get', { Name: name });
        if (g.Err !== '') throw new Error(`Get: ${g.Err}`);
        name = g.Volume?.Name ?? name;
      }
      t0 = performance.now();
      a.firstMountAt ??= t0;
      const m = await call(a.socket, 'VolumeDriver.Mount', ID ? { Name: name, ID } : { Name: name });
      ok = m.Err === '' && typeof m.Mountpoint === 'string';
      if (!ok) fail(`Mount ${name}: ${m.Err}`);
      if (ok) {
        const u = await call(a.socket, 'VolumeDriver.Unmount', ID ? { Name: name, ID } : { Name: name });
        if (u.Err !== '') fail(`Unmount ${name}: ${u.Err}`);
      }
    } catch (e) {
      fail(`Mount ${vol.name}: ${(e as Error).message}`);
    }
    const t = performance.now();
    record.push({ t, ms: t - t0, ok });
    // The pxd double keeps every request it served; the bench needs none of them.
    if (this.pxd.requests.length > 10_000) this.pxd.requests.splice(0, this.pxd.requests.length - 1_000);
  }

  /**
   * `perVolume` cycles of each of an agent's volumes, all at once, each on its own connection: what
   * a fresh agent asks DC/OS when a burst of containers starts on it. Judged by the DC/OS double's own
   * counters: GETs per registry record and per token secret.
   */
  async burst(a: Agent, perVolume: number): Promise<BurstResult> {
    const gets = this.dcos.counters.secretGets;
    const count = (paths: string[]): number[] => paths.map((p) => gets.get(p) ?? 0);
    const registry = a.volumes.map(registryPath);
    const secrets = [...new Set(a.volumes.map(secretPath))];
    const r0 = count(registry);
    const s0 = count(secrets);
    const failuresBefore = this.failures.length;
    const record: CallRecord[] = [];
    const t0 = performance.now();
    await Promise.all(a.volumes.flatMap((vol) => Array.from({ length: perVolume }, () => this.#cycle(a, vol, record))));
    const wallMs = performance.now() - t0;
    const dr = count(registry).map((n, i) => n - r0[i]!);
    const ds = count(secrets).map((n, i) => n - s0[i]!);
    if (this.failures.length > failuresBefore)
      throw new Error(`burst on agent ${a.index}: ${this.failures.slice(failuresBefore).join(' | ')}`);
    return {
      agent: a.index,
      volumes: a.volumes.length,
      mounts: record.length,
      failed: record.filter((m) => !m.ok).length,
      wallMs: Math.round(wallMs),
      registryReads: dr.reduce((x, y) => x + y, 0),
      registryReadsMaxPerVolume: Math.max(0, ...dr),
      secretReads: ds.reduce((x, y) => x + y, 0),
      secretReadsMaxPerSecret: Math.max(0, ...ds),
    };
  }

  async close(): Promise<void> {
    clearInterval(this.#clock);
    await this.stopStreams();
    await this.stopAll();
    await this.pxd.close();
    await this.dcos.close();
    this.#pki.cleanup();
  }
}
