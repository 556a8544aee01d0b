/**
 * A DC/OS cluster's worth of pxd-auth-proxy agents in one process, for the cluster section of the
 * bench (bench/cluster.ts):
 *   - one DC/OS double (IAM login + Secret Store over HTTPS with a CA), shared by every agent;
 *   - one pxd double behind every agent (auth on: it checks each forwarded token);
 *   - N agents, each a RunningProxy (src/app.ts) started as `serve` starts one: the configuration
 *     loaded from a YAML file shaped like plugin/pxd-auth-proxy.yaml and the service account from the
 *     environment, its own plugin socket and state folder; it logs in to DC/OS as it starts;
 *   - on each agent a small steady stream of Docker calls (Mount then Unmount of one of its volumes),
 *     at jittered intervals, each on a fresh connection as dvdcli makes them.
 *
 * Volumes and secrets: T tenants, each with a token in the Secret Store under the base path
 * (pwx/secrets/cluster/tenant-NN); V volumes, volume v belonging to tenant v mod T and created once,
 * through another agent than most of those that mount it. Every agent mounts a few volumes, each of
 * another tenant, so every agent reads that many secrets per cache TTL.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { RunningProxy } from '../src/app.js';
import { createLogger } from '../src/audit/logger.js';
import { loadConfig } from '../src/config/load.js';
import { startDcosDouble, type DcosDouble } from '../test/doubles/dcos/server.js';
import { makeRsaKeyPair, makeTestPki, type TestPki } from '../test/doubles/dcos/pki.js';
import { startPxdDouble, type PxdDouble } from '../test/doubles/pxd/server.js';
import { ISSUER, SHARED_SECRET } from './stack.js';
import { benchToken } from './tokens.js';

const SA = 'pxd-auth-cluster';
/** Under the base path (pwx/secrets): token_secret=cluster/tenant-03 reads pwx/secrets/cluster/tenant-03. */
const TENANT_SECRET = (k: number): string => `cluster/tenant-${String(k).padStart(2, '0')}`;
const VOLUME = (v: number): string => `cvol${String(v).padStart(3, '0')}`;

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
   * How agents name volumes. `inline`: `token_secret=cluster/tenant-03,name=cvol007`, which a fresh
   * agent resolves with one secret read. `bare` (`cvol007`): a volume created on another agent, which
   * a fresh agent can only resolve through the volume reference registry (not there yet).
   */
  names: 'inline' | 'bare';
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
}

export interface CallRecord {
  /** performance.now() at the end of the Mount. */
  t: number;
  ms: number;
  ok: boolean;
}

/**
 * The Name agents send for a volume.
 *
 * REGISTRY (issue 14, next step): bare names go here. A volume is then created once with
 * `-o token_secret=...` on its owner agent, and every other agent mounts it by its bare name, which it
 * has never seen: its first Mount of it reads the registry in the DC/OS Secret Store (one read per
 * volume per agent, cached afterwards). Give the registry's path prefix to DcosMeter (bench/cluster.ts)
 * so those reads are counted apart from token reads.
 */
export function volumeName(vol: Pick<Volume, 'index' | 'tenant'>, names: FleetOptions['names']): string {
  if (names === 'bare') throw new Error('bare volume names need the volume reference registry (issue 14): not in this tree yet');
  return `token_secret=${TENANT_SECRET(vol.tenant)},name=${VOLUME(vol.index)}`;
}

/** dockerd's mount IDs: 64 lowercase hex characters. */
const mountId = (tag: string): string => createHash('sha256').update(tag).digest('hex');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One plugin call as dvdcli makes it: a fresh connection, JSON body. */
function call(socketPath: string, endpoint: string, body: unknown): Promise<{ Err?: string; Mountpoint?: string }> {
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
            resolve(JSON.parse(text) as { Err?: string });
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
      [
        `backend: unix://${pxdSocket}`,
        `mountsRoot: ${mountsRoot}`,
        'backendTimeout: 90',
        'secrets: dcos',
        'secretsBasePath: pwx/secrets',
        'issuers:',
        `  - name: ${ISSUER}`,
        `    sharedSecretFile: ${sharedSecretFile}`,
        'usernameClaim: sub',
        'clockTolerance: 0',
        'requiredClaims: [iss, sub, exp, iat, name, email]',
        'tokenCacheSize: 10000',
        'policy:',
        '  roles:',
        '    system.admin: [create, remove, mount]',
        '    system.user: [create, remove, mount]',
        '    system.view: []',
        '  bindings: []',
        'volumeSecrets: []',
        'logLevel: warn',
        'logPretty: false',
        'dcos:',
        `  DCOS_CLUSTER_URL: ${dcos.url}`,
        `  DCOS_SECRETS_CA_CERT_FILE: ${pki.ca.certFile}`,
        `  PXD_AUTH_SECRET_CACHE_TTL: ${opts.cacheTtlSec}`,
        '  PXD_AUTH_SECRET_MAX_STALE: 300',
        '  PXD_AUTH_DCOS_TIMEOUT: 20',
        '',
      ].join('\n'),
    );
    const env = { DCOS_SERVICE_ACCOUNT: SA, DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: keyFile };
    return new Fleet(opts, dcos, pxd, pki, configFile, env);
  }

  /** Start one agent as `serve` does: it listens, then logs in to DC/OS in the background. */
  async start(a: Agent): Promise<void> {
    const { config, problems } = loadConfig({
      flags: { config: this.#configFile, socket: a.socket, stateDir: a.stateDir },
      env: this.#env,
    });
    if (!config) throw new Error(`agent ${a.index}: configuration refused: ${problems.join('; ')}`);
    a.proxy = await RunningProxy.start(config, this.#logger.child({ agent: a.index }));
    a.up = true;
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
      // REGISTRY: with bare names, create with `Opts: { token_secret: TENANT_SECRET(vol.tenant) }` instead.
      const r = await call(owner.socket, 'VolumeDriver.Create', { Name: vol.name, Opts: null });
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

  /** Mount then Unmount, as a container's start and stop. Failures are counted, never thrown. */
  async #cycle(a: Agent, vol: Volume): Promise<void> {
    const ID = mountId(`agent-${a.index}-${vol.index}`);
    const t0 = performance.now();
    let ok = false;
    try {
      const m = await call(a.socket, 'VolumeDriver.Mount', { Name: vol.name, ID });
      ok = m.Err === '' && typeof m.Mountpoint === 'string';
      if (!ok && this.failures.length < 10) this.failures.push(`agent ${a.index} Mount ${vol.name}: ${m.Err}`);
      if (ok) {
        const u = await call(a.socket, 'VolumeDriver.Unmount', { Name: vol.name, ID });
        if (u.Err !== '' && this.failures.length < 10) this.failures.push(`agent ${a.index} Unmount ${vol.name}: ${u.Err}`);
      }
    } catch (e) {
      if (this.failures.length < 10) this.failures.push(`agent ${a.index} Mount ${vol.name}: ${(e as Error).message}`);
    }
    const t = performance.now();
    this.mounts.push({ t, ms: t - t0, ok });
    // The pxd double keeps every request it served; the bench needs none of them.
    if (this.pxd.requests.length > 10_000) this.pxd.requests.splice(0, this.pxd.requests.length - 1_000);
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
