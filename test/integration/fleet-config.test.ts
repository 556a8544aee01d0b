/**
 * The fleet document (--fleet-config) end to end: proxies on real unix sockets in front of the pxd
 * double, all reading one document from the DC/OS double over HTTPS. The document's policy is in force
 * from the first request; a change reaches every proxy within the interval without dropping a request;
 * a broken document is refused (the policy in force stays, an error line, a /readyz detail); without a
 * document, or without DC/OS at start, the YAML file's sections apply until the document is read.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { startDcosDouble, type DcosDouble } from '../doubles/dcos/server.js';
import { makeRsaKeyPair, makeTestPki, type TestPki } from '../doubles/dcos/pki.js';
import { startPxdDouble, type PxdDouble } from '../doubles/pxd/server.js';
import { callPlugin } from '../helpers/plugin-client.js';
import { ISSUER, SHARED_SECRET, signHs256, userClaims } from '../helpers/tokens.js';
import { loadConfig, type FleetDocument } from '../../src/config/load.js';
import { createLogger, type Logger } from '../../src/audit/logger.js';
import { RunningProxy } from '../../src/app.js';
import { DeferredObserver } from '../../src/admin/deferred-observer.js';
import { startAdmin } from '../../src/admin/start.js';

const FLEET = 'pxd-auth-proxy/fleet';
const version = (t: string) => createHash('sha256').update(t).digest('hex').slice(0, 12);

/** Tenant A's secret only for a-*; every other secret refused (strict). */
const DOC_A = ['policy:', '  strict: true', '  bindings:', '    - secretPrefix: tenant-a', '      volumes: ["a-*"]', ''].join('\n');
/** The same, and tenant B's secret for b-* (JSON: the document may be either). */
const DOC_AB = JSON.stringify({
  policy: {
    strict: true,
    bindings: [
      { secretPrefix: 'tenant-a', volumes: ['a-*'] },
      { secretPrefix: 'tenant-b', volumes: ['b-*'] },
    ],
  },
});
const BROKEN_SECRET = 'fleet-shared-secret-never-logged-0123';
/** Valid sections, plus a key that must be set on each agent, and an issuer with an inline secret. */
const BROKEN = `${DOC_A}socket: /tmp/elsewhere.sock\nissuers:\n  - name: x\n    sharedSecret: ${BROKEN_SECRET}\n`;

/** As docs/install.md grants them: the token secrets, the volume records, and the fleet document read-only. */
const GRANTS = [
  'dcos:secrets:default:/pwx/secrets/* read',
  'dcos:secrets:default:/pxd-auth-proxy/volumes/* full',
  'dcos:secrets:default:/pxd-auth-proxy/fleet read',
];

let pki: TestPki;
let dcos: DcosDouble;
let keyFile: string;
let tokenA: string;
let tokenB: string;

beforeAll(async () => {
  pki = makeTestPki();
  const sa = makeRsaKeyPair();
  tokenA = await signHs256(SHARED_SECRET, userClaims('ua'));
  tokenB = await signHs256(SHARED_SECRET, userClaims('ub'));
  dcos = await startDcosDouble({
    tls: { serverKeyPem: pki.serverKeyPem, serverCertPem: pki.serverCertPem },
    serviceAccounts: { 'pwx-proxy': sa.publicKeyPem },
    secrets: { 'pwx/secrets/tenant-a/token': tokenA, 'pwx/secrets/tenant-b/token': tokenB },
    grants: { 'pwx-proxy': GRANTS },
  });
  keyFile = path.join(pki.dir, 'sa.pem');
  writeFileSync(keyFile, sa.pkcs1Pem, { mode: 0o600 });
});

afterAll(async () => {
  await dcos?.close();
  pki?.cleanup();
});

interface Agent {
  proxy: RunningProxy;
  pxd: PxdDouble;
  logger: Logger;
  /** Every log line (JSON text). */
  logs: string[];
  create(secret: 'tenant-a' | 'tenant-b', volume: string): Promise<string>;
  call(endpoint: string, body?: unknown): ReturnType<typeof callPlugin>;
  close(): Promise<void>;
}

const agents: Agent[] = [];
afterEach(async () => {
  dcos.down = false;
  await Promise.all(agents.splice(0).map((a) => a.close()));
});

/** One agent's proxy, started as `serve` starts it: the fleet document read through the loader. */
async function startAgent(opts: { yaml?: string; firstWaitMs?: number } = {}): Promise<Agent> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-fleet-'));
  const mountsRoot = path.join(dir, 'mounts');
  mkdirSync(mountsRoot, { recursive: true });
  const pxd = await startPxdDouble({
    socketPath: path.join(dir, 'pxd.sock'),
    auth: { issuers: [{ name: ISSUER, sharedSecret: SHARED_SECRET }] },
    mountsRoot,
    defaultSize: '1G',
  });
  const socket = path.join(dir, 'pxd-auth.sock');
  const yamlFile = path.join(dir, 'agent.yaml');
  if (opts.yaml) writeFileSync(yamlFile, opts.yaml);
  const flags = {
    socket,
    backend: `unix://${path.join(dir, 'pxd.sock')}`,
    mountsRoot,
    stateDir: path.join(dir, 'state'),
    backendTimeout: 5,
    secrets: 'dcos',
    secretsBasePath: 'pwx/secrets',
    dcosUrl: dcos.url,
    dcosCaFile: pki.ca.certFile,
    dcosServiceAccount: 'pwx-proxy',
    dcosPrivateKeyFile: keyFile,
    jwtIssuer: ISSUER,
    jwtSharedSecret: SHARED_SECRET,
    fleetConfig: FLEET,
    fleetConfigInterval: 1,
    ...(opts.yaml ? { config: yamlFile } : {}),
  };
  const build = (fleet: FleetDocument | undefined) => loadConfig({ flags, env: {}, ...(fleet ? { fleet } : {}) });
  const { config, problems } = build(undefined);
  if (!config) throw new Error(`test config invalid: ${problems.join('; ')}`);
  const logs: string[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk));
        cb();
      },
    }),
  });
  const proxy = await RunningProxy.start(config, logger, {
    fleet: { build, ...(opts.firstWaitMs !== undefined ? { firstWaitMs: opts.firstWaitMs } : {}) },
  });
  const call = (endpoint: string, body?: unknown) => callPlugin(socket, endpoint, body);
  const agent: Agent = {
    proxy,
    pxd,
    logger,
    logs,
    call,
    create: async (secret, volume) => (await call('VolumeDriver.Create', { Name: `token_secret=${secret}/token,name=${volume}` })).json.Err,
    async close() {
      await proxy.close();
      await pxd.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  agents.push(agent);
  return agent;
}

async function waitFor(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const DENIED = /^pxd-auth POLICY_BINDING_DENIED: /;

describe('the fleet document', () => {
  it("is in force from the first request: a Create outside its bindings is refused, although the agent's own configuration has none", async () => {
    dcos.setSecret(FLEET, DOC_A);
    const a = await startAgent();
    expect(a.proxy.fleet!.status()).toMatchObject({ path: FLEET, ok: true, state: 'applied', version: version(DOC_A) });
    expect(await a.create('tenant-a', 'x-1')).toMatch(
      /^pxd-auth POLICY_BINDING_DENIED: secret pwx\/secrets\/tenant-a\/token may only be used for volumes a-\*/,
    );
    expect(await a.create('tenant-b', 'b-1')).toMatch(DENIED);
    expect(await a.create('tenant-a', 'a-1')).toBe('');
    expect(a.pxd.volumes.has('a-1')).toBe(true);
    expect(a.pxd.volumes.has('x-1')).toBe(false);
    expect(a.logs.join('')).toMatch(/"msg":"fleet document applied"/);
  });

  it('a change reaches every agent within the interval, and no request is dropped meanwhile', async () => {
    dcos.setSecret(FLEET, DOC_A);
    const [a, b] = await Promise.all([startAgent(), startAgent()]);
    expect(await b.create('tenant-b', 'b-1')).toMatch(DENIED);

    // A Create on A waits in pxd while the policy changes under it; B serves a stream of calls.
    let release!: () => void;
    a.pxd.faults.hold = new Promise<void>((r) => (release = r));
    const held = a.call('VolumeDriver.Create', { Name: 'token_secret=tenant-a/token,name=a-held' });
    await waitFor('the held Create to reach pxd', () => a.pxd.requests.some((r) => r.endpoint === '/VolumeDriver.Create'));
    let flowing = true;
    const replies: Array<{ status: number; err: unknown }> = [];
    const traffic = (async () => {
      while (flowing) {
        const r = await b.call('VolumeDriver.List', {});
        replies.push({ status: r.status, err: r.json?.Err });
      }
    })();

    // Written as `dcos security secrets update -f fleet.json` writes it: a binary secret.
    const changedAt = Date.now();
    dcos.setSecret(FLEET, Buffer.from(DOC_AB));
    await waitFor('both agents to apply the new document', () => [a, b].every((x) => x.proxy.fleet!.status().version === version(DOC_AB)));
    // One interval (1 s ±10 %) and a read.
    expect(Date.now() - changedAt).toBeLessThan(3_500);
    flowing = false;
    await traffic;
    a.pxd.faults.hold = undefined;
    release();

    expect((await held).json).toEqual({ Err: '' });
    expect(a.pxd.volumes.has('a-held')).toBe(true);
    expect(replies.length).toBeGreaterThan(5);
    expect(replies.filter((r) => r.status !== 200 || r.err !== '')).toEqual([]);
    for (const x of [a, b]) {
      expect(await x.create('tenant-b', 'b-2')).toBe('');
      expect(await x.create('tenant-b', 'x-2')).toMatch(DENIED);
      expect(x.proxy.fleet!.status()).toMatchObject({ ok: true, state: 'applied' });
    }
  });

  it('a broken document is refused: the policy in force stays, an error line says why, and /readyz shows it', async () => {
    dcos.setSecret(FLEET, DOC_AB);
    const a = await startAgent();
    const admin: http.Server = await startAdmin(a.proxy, new DeferredObserver(), '127.0.0.1:0', a.logger);
    try {
      const readyz = async () => {
        const r = await fetch(`http://127.0.0.1:${(admin.address() as AddressInfo).port}/readyz`);
        return { status: r.status, body: (await r.json()) as Record<string, any> };
      };
      expect((await readyz()).body.fleetConfig).toMatchObject({ path: FLEET, ok: true, state: 'applied', version: version(DOC_AB) });

      dcos.setSecret(FLEET, BROKEN);
      await waitFor('the broken document to be refused', () => a.proxy.fleet!.status().problem !== undefined);

      // Still DOC_AB: B's secret works for b-*, nothing from the broken document applies.
      expect(await a.create('tenant-b', 'b-3')).toBe('');
      expect(await a.create('tenant-a', 'x-3')).toMatch(DENIED);
      expect(a.proxy.config.socket).not.toBe('/tmp/elsewhere.sock');

      const errors = a.logs.map((l) => JSON.parse(l) as Record<string, any>).filter((l) => l.level === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({
        component: 'fleet-config',
        fleetConfig: FLEET,
        version: version(BROKEN),
        msg: 'the fleet document was refused; the running configuration is kept',
      });
      expect(errors[0]!.problems).toContainEqual(
        expect.stringMatching(/^fleet document pxd-auth-proxy\/fleet: socket: the fleet document holds only/),
      );
      expect(a.logs.join('')).not.toContain(BROKEN_SECRET);

      const broken = await readyz();
      // It serves, with the configuration it had: still ready, with the detail.
      expect(broken.status).toBe(200);
      expect(broken.body.status).toBe('ready');
      expect(broken.body.fleetConfig).toMatchObject({
        path: FLEET,
        ok: false,
        state: 'applied',
        version: version(DOC_AB),
        problem: expect.stringMatching(/^the fleet document pxd-auth-proxy\/fleet \(version [0-9a-f]{12}\) was refused: .*socket/),
        since: expect.any(String),
      });
      expect(JSON.stringify(broken.body)).not.toContain(BROKEN_SECRET);

      // Repaired: applied, and the detail clears.
      dcos.setSecret(FLEET, DOC_A);
      await waitFor('the repaired document', () => a.proxy.fleet!.status().version === version(DOC_A));
      expect((await readyz()).body.fleetConfig).toMatchObject({ ok: true, state: 'applied', version: version(DOC_A) });
      expect((await readyz()).body.fleetConfig.problem).toBeUndefined();
      expect(await a.create('tenant-b', 'b-4')).toMatch(DENIED);
    } finally {
      admin.close();
      admin.closeAllConnections();
    }
  });

  it("absent at start: the YAML file's sections apply, until the document is created", async () => {
    dcos.deleteSecret(FLEET);
    const a = await startAgent({
      yaml: ['policy:', '  bindings:', '    - secretPrefix: tenant-b', '      volumes: ["b-*"]', ''].join('\n'),
    });
    expect(a.proxy.fleet!.status()).toMatchObject({
      ok: false,
      state: 'absent',
      problem: expect.stringMatching(/^no document at pxd-auth-proxy\/fleet/),
    });
    expect(a.logs.join('')).toMatch(/"level":"warn".*there is no fleet document at pxd-auth-proxy\/fleet/);
    // The file's policy: B bound to b-*, A unbound (not strict).
    expect(await a.create('tenant-b', 'x-5')).toMatch(DENIED);
    expect(await a.create('tenant-a', 'x-6')).toBe('');

    dcos.setSecret(FLEET, DOC_A);
    await waitFor('the document to be applied', () => a.proxy.fleet!.status().state === 'applied');
    expect(await a.create('tenant-a', 'x-7')).toMatch(DENIED);
  });

  it('SIGHUP reads the document and the YAML file again, together', async () => {
    dcos.setSecret(FLEET, DOC_A);
    const yaml = (volumes: string) => `volumeSecrets:\n  - volumes: ["${volumes}"]\n    tokenSecret: tenant-a/token\n`;
    const a = await startAgent({ yaml: yaml('ucr-*') });
    expect(a.proxy.config.volumeSecrets.map((v) => v.volumes)).toEqual([['ucr-*']]);
    writeFileSync(a.proxy.config.configFile!, yaml('pg-*'));
    dcos.setSecret(FLEET, DOC_AB);
    // What serve's SIGHUP handler calls: in turn with the periodic reads, so neither undoes the other.
    const [sighup] = await Promise.all([a.proxy.fleet!.refresh(true), a.proxy.fleet!.refresh(false)]);
    expect(sighup.problems).toEqual([]);
    expect(a.proxy.config.volumeSecrets.map((v) => v.volumes)).toEqual([['pg-*']]);
    expect(a.proxy.fleet!.status()).toMatchObject({ ok: true, version: version(DOC_AB) });
    expect(await a.create('tenant-b', 'b-9')).toBe('');
  });

  it('without read on the document: the problem names the permission to grant', async () => {
    dcos.setSecret(FLEET, DOC_A);
    dcos.revokeGrants('pwx-proxy');
    try {
      for (const g of GRANTS.filter((x) => !x.includes('/fleet'))) dcos.grant('pwx-proxy', ...(g.split(' ') as [string, string]));
      const a = await startAgent({ firstWaitMs: 2_000 });
      expect(a.proxy.fleet!.status()).toMatchObject({
        ok: false,
        state: 'pending',
        problem:
          "cannot read the fleet document pxd-auth-proxy/fleet: account pwx-proxy may not read pxd-auth-proxy/fleet: grant dcos:secrets:default:/pxd-auth-proxy/fleet read (dcos security org users grant pwx-proxy 'dcos:secrets:default:/pxd-auth-proxy/fleet' read)",
      });
      dcos.grant('pwx-proxy', 'dcos:secrets:default:/pxd-auth-proxy/fleet', 'read');
      await waitFor('the document to be applied', () => a.proxy.fleet!.status().state === 'applied', 8_000);
    } finally {
      dcos.revokeGrants('pwx-proxy');
      for (const g of GRANTS) dcos.grant('pwx-proxy', ...(g.split(' ') as [string, string]));
    }
  });

  it("DC/OS down at start: the proxy serves with the YAML file's sections, then applies the document once DC/OS answers", async () => {
    dcos.setSecret(FLEET, DOC_A);
    dcos.down = true;
    const started = Date.now();
    const a = await startAgent({ firstWaitMs: 300 });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(a.proxy.fleet!.status()).toMatchObject({
      ok: false,
      state: 'pending',
      problem: expect.stringMatching(/^cannot read the fleet document pxd-auth-proxy\/fleet: /),
    });
    expect((await a.call('VolumeDriver.Capabilities', {})).status).toBe(200);
    dcos.down = false;
    await waitFor('the document to be applied', () => a.proxy.fleet!.status().state === 'applied', 8_000);
    expect(await a.create('tenant-a', 'x-8')).toMatch(DENIED);
  });
});
