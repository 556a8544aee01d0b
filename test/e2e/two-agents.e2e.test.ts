/**
 * End to end with two real daemons (issue 14, section 3): two agents on this machine, each a real
 * dockerd (its own --data-root, --exec-root, API socket, key file) and its own pxd-auth proxy, both in a
 * mount namespace of their own so each daemon finds its own plugin at /run/docker/plugins/pxd-auth.sock
 * (agent-namespace.ts). They share ONE pxd double (whose mountpoints are real folders under one mounts
 * root, so a file written through one agent is read through the other) and ONE DC/OS double.
 *
 * A volume is created through agent A with `-o token_secret=<path>`: A's proxy records the reference in
 * the DC/OS Secret Store (pxd-auth-proxy/volumes/mnt1). Agent B never sees that Create, yet mounts the
 * volume (its proxy reads the record), writes a file that A then reads, and removes the volume, which
 * deletes the record.
 *
 * Needs Linux and root, like docker.e2e.test.ts (same tools, installed with apt when missing; in CI their
 * absence fails the suite). When this machine cannot run two daemons in mount namespaces, the suite is
 * skipped with the reason printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPxdDouble, type PxdDouble } from '../doubles/pxd/server.js';
import { startDcosDouble, type DcosDouble } from '../doubles/dcos/server.js';
import { makeRsaKeyPair, makeTestPki, type TestPki } from '../doubles/dcos/pki.js';
import { ISSUER, SHARED_SECRET, signHs256, userClaims } from '../helpers/tokens.js';
import {
  buildBusyboxImage,
  Dockerd,
  ensureE2eTools,
  IMAGE,
  isCI,
  PLUGIN_NAME,
  PLUGIN_SOCKET,
  type E2eTools,
  type RunResult,
} from './dockerd.js';
import { Cleanup } from './cleanup.js';
import { ProxyProcess } from './proxy-process.js';
import { startSharedStorage, type SharedStorage } from './shared-storage.js';
import { AgentNamespace } from './agent-namespace.js';

const TITLE = 'two agents: two real dockerd, each with its own proxy, one pxd and one DC/OS';
const SA_UID = 'pxd-auth-proxy';
const SECRET = 'pwx/secrets/user1-token';
const REFERENCES = 'pxd-auth-proxy/volumes';
const RECORD = `${REFERENCES}/mnt1`;

/** A dockerd whose key file and configuration are its own, not /etc/docker's (the two must not share one). */
function agentDockerd(dir: string, tools: Pick<E2eTools, 'dockerd' | 'docker'>, ns: AgentNamespace): Dockerd {
  const configFile = path.join(dir, 'daemon.json');
  mkdirSync(dir, { recursive: true });
  writeFileSync(configFile, JSON.stringify({ 'deprecated-key-path': path.join(dir, 'key.json') }) + '\n');
  return new Dockerd(dir, tools, { launcher: ns.launcher(), extraArgs: ['--config-file', configFile] });
}

/** Can a dockerd start in a mount namespace of its own here? undefined: yes; otherwise why not. */
async function probeAgentNamespace(tools: E2eTools): Promise<string | undefined> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-e2e-agent-probe-'));
  const ns = new AgentNamespace('probe', dir);
  let dockerd: Dockerd | undefined;
  try {
    await ns.start();
    dockerd = agentDockerd(path.join(dir, 'docker'), tools, ns);
    await dockerd.start(30_000);
    return undefined;
  } catch (e) {
    return `a dockerd cannot run in a mount namespace of its own (unshare --mount) on this machine: ${(e as Error).message}`;
  } finally {
    await dockerd?.stop();
    await ns.stop();
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

const tools = await ensureE2eTools();
const cannot = tools.ok ? await probeAgentNamespace(tools) : tools.reason;

if (!tools.ok && isCI()) {
  describe(TITLE, () => {
    it('can run on this CI machine', () => {
      throw new Error(`CI=true, but the docker end-to-end suites cannot run here: ${tools.reason}`);
    });
  });
} else if (!tools.ok || cannot !== undefined) {
  const reason = cannot ?? 'unknown';
  console.warn(`\n*** ${TITLE}: SKIPPED — ${reason} ***\n`);
  describe.skip(`${TITLE} — SKIPPED: ${reason}`, () => {
    it.skip(`skipped because ${reason}`, () => {});
  });
} else {
  if (tools.notes.length) console.warn(`[e2e two agents] setup notes:\n  ${tools.notes.join('\n  ')}`);

  interface Agent {
    name: 'A' | 'B';
    dir: string;
    ns: AgentNamespace;
    storage: SharedStorage;
    proxy: ProxyProcess;
    docker: Dockerd;
  }
  interface AuditLine {
    audit?: boolean;
    operation: string;
    volume: string;
    decision: string;
    tokenSource?: string;
    secretPath?: string;
  }

  let dir: string;
  let mountsRoot: string;
  let pki: TestPki | undefined;
  let dcos: DcosDouble | undefined;
  let pxd: PxdDouble | undefined;
  let token: string;
  const agents: Partial<Record<'A' | 'B', Agent>> = {};
  const outputs: RunResult[] = [];

  const agent = (name: 'A' | 'B'): Agent => {
    const a = agents[name];
    if (!a) throw new Error(`agent ${name} did not start`);
    return a;
  };
  async function dk(name: 'A' | 'B', args: string[]): Promise<RunResult> {
    const r = await agent(name).docker.cli(args);
    outputs.push(r);
    return r;
  }
  async function dkOk(name: 'A' | 'B', args: string[]): Promise<RunResult> {
    const r = await dk(name, args);
    expect(r.code, `agent ${name}: ${r.cmd}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
    return r;
  }
  const runArgs = (...rest: string[]) => ['run', '--rm', '--network', 'none', ...rest];
  /** What an agent's proxy passed on to pxd for a volume: endpoints, in order. */
  const forwarded = (name: 'A' | 'B', volume = 'mnt1') =>
    agent(name)
      .storage.requests.filter((r) => r.volume === volume)
      .map((r) => r.endpoint.replace('/VolumeDriver.', ''));
  /** The audit lines of an agent's proxy (JSON log lines with audit: true). */
  function audits(name: 'A' | 'B'): AuditLine[] {
    const out: AuditLine[] = [];
    for (const line of agent(name).proxy.log().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const j = JSON.parse(line) as AuditLine;
        if (j.audit === true) out.push(j);
      } catch {
        /* not a JSON line */
      }
    }
    return out;
  }
  const gets = () => dcos!.counters.secretGets.get(RECORD) ?? 0;

  describe.sequential(TITLE, () => {
    beforeAll(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-e2e-two-agents-'));
      mountsRoot = path.join(dir, 'mounts');
      mkdirSync(mountsRoot, { recursive: true });
      token = await signHs256(SHARED_SECRET, userClaims('user1'));

      // One DC/OS for the cluster: the proxies' service account reads pwx/secrets/* and keeps the
      // cluster's volume references under pxd-auth-proxy/volumes/*.
      pki = makeTestPki();
      const sa = makeRsaKeyPair();
      const keyFile = path.join(dir, 'sa.key');
      writeFileSync(keyFile, sa.pkcs8Pem, { mode: 0o600 });
      dcos = await startDcosDouble({
        tls: { serverKeyPem: pki.serverKeyPem, serverCertPem: pki.serverCertPem, ca: pki.ca },
        serviceAccounts: { [SA_UID]: sa.publicKeyPem },
        grants: { [SA_UID]: ['dcos:secrets:default:/pwx/secrets/* read', `dcos:secrets:default:/${REFERENCES}/* full`] },
        secrets: { [SECRET]: token + '\n' },
      });
      // One pxd for the cluster.
      pxd = await startPxdDouble({
        socketPath: path.join(dir, 'pxd.sock'),
        auth: { issuers: [{ name: ISSUER, sharedSecret: SHARED_SECRET }] },
        mountsRoot,
        makeMountDirs: true,
        defaultSize: '1G',
      });
      const secretFile = path.join(dir, 'jwt-shared-secret');
      writeFileSync(secretFile, SHARED_SECRET + '\n', { mode: 0o600 });

      for (const name of ['A', 'B'] as const) {
        const adir = path.join(dir, `agent-${name}`);
        mkdirSync(adir, { recursive: true });
        // Each agent's proxy reaches the one pxd through its own forwarder, which records what that agent sent.
        const storage = await startSharedStorage({ socketPath: path.join(adir, 'backend.sock'), pxd, mountsRoot });
        const ns = new AgentNamespace(name, adir);
        try {
          await ns.start();
        } catch (e) {
          // Not an agent yet, so afterAll would not see these.
          await ns.stop();
          await storage.close();
          throw e;
        }
        const proxy = new ProxyProcess({
          socket: PLUGIN_SOCKET,
          probeSocket: ns.hostPath(PLUGIN_SOCKET),
          launcher: ns.launcher(),
          backendSocket: storage.socketPath,
          mountsRoot,
          stateDir: path.join(adir, 'state'),
          secrets: 'dcos',
          issuer: ISSUER,
          sharedSecretFile: secretFile,
          logFile: path.join(adir, 'proxy.log'),
          extraArgs: ['--references-path', REFERENCES],
          env: {
            DCOS_CLUSTER_URL: dcos.url,
            DCOS_SECRETS_CA_CERT_FILE: pki.ca.certFile,
            DCOS_SERVICE_ACCOUNT: SA_UID,
            DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: keyFile,
          },
        });
        const docker = agentDockerd(path.join(adir, 'docker'), tools, ns);
        agents[name] = { name, dir: adir, ns, storage, proxy, docker };
        // The plugin starts before dockerd (as with systemd), so the daemon finds it when it scans.
        await proxy.start();
        await docker.start();
        await buildBusyboxImage(docker, tools.busybox, adir);
      }
    }, 240_000);

    afterAll(async () => {
      const cleanup = new Cleanup('e2e two agents');
      const step = cleanup.step.bind(cleanup);
      const pids: number[] = [];
      // Per agent: dockerd first (it holds the plugin connection), then its proxy, then the namespace.
      for (const a of Object.values(agents)) {
        pids.push(...a.docker.pids);
        if (a.proxy.daemon) pids.push(a.proxy.daemon.pid);
        await step(`agent ${a.name}: stop dockerd`, () => a.docker.stop());
        await step(`agent ${a.name}: stop the proxy`, async () => {
          const r = await a.proxy.stop();
          return r.startsWith('exited') || r === 'not started' ? [] : [`agent ${a.name}: proxy stop: ${r}`];
        });
        await step(`agent ${a.name}: stop its namespace`, () => a.ns.stop());
        await step(`agent ${a.name}: stop its forwarder`, () => a.storage.close());
      }
      await step('stop the pxd double', () => pxd?.close());
      await step('stop the DC/OS double', () => dcos?.close());
      await step('pki', () => pki?.cleanup());
      cleanup.alive(pids, 'dockerd, its containerd or a proxy');
      await cleanup.finish(dir);
    }, 120_000);

    it('each daemon has its own plugin socket, in its own namespace, under the same driver name', () => {
      const a = agent('A');
      const b = agent('B');
      const sa = statSync(a.ns.hostPath(PLUGIN_SOCKET));
      const sb = statSync(b.ns.hostPath(PLUGIN_SOCKET));
      expect(sa.isSocket() && sb.isSocket()).toBe(true);
      // Two sockets on two file systems (each namespace's own tmpfs on /run), one plugin in each folder.
      expect(sa.dev).not.toBe(sb.dev);
      for (const x of [a, b]) expect(readdirSync(x.ns.hostPath(path.dirname(PLUGIN_SOCKET)))).toEqual([path.basename(PLUGIN_SOCKET)]);
      expect(a.docker.socket).not.toBe(b.docker.socket);
      expect(a.docker.dataRoot).not.toBe(b.docker.dataRoot);
      expect(a.docker.execRoot).not.toBe(b.docker.execRoot);
    });

    it('create through agent A with -o token_secret: pxd creates mnt1, the reference is recorded in DC/OS', async () => {
      const r = await dkOk('A', ['volume', 'create', '-d', PLUGIN_NAME, '--name', 'mnt1', '-o', `token_secret=${SECRET}`]);
      expect(r.stdout.trim()).toBe('mnt1');
      expect(pxd!.volumes.get('mnt1')?.owner).toBe('id/user1');
      expect(pxd!.lastToken('Create')).toBe(token);
      expect(forwarded('A')).toContain('Create');
      expect(audits('A')).toContainEqual(
        expect.objectContaining({ operation: 'create', volume: 'mnt1', decision: 'allow', tokenSource: 'opts-secret', secretPath: SECRET }),
      );
      // The cluster's record: the secret's path, never the token.
      expect(dcos!.counters.secretWrites.get(`PUT ${RECORD}`)).toBe(1);
      const record = dcos!.secret(RECORD);
      expect(typeof record).toBe('string');
      expect(JSON.parse(record as string)).toMatchObject({ secretPath: SECRET });
      expect(record).not.toContain(token);
      // Agent B has seen nothing of mnt1 so far.
      expect(forwarded('B')).toEqual([]);
      expect(audits('B')).toEqual([]);
    }, 120_000);

    it('docker run through agent B, which never saw the Create, mounts mnt1 from the DC/OS record and writes', async () => {
      const getsBefore = gets();
      const mountsBefore = pxd!.requests.filter((q) => q.endpoint === '/VolumeDriver.Mount').length;
      await dkOk('B', runArgs('-v', 'mnt1:/data', IMAGE, 'sh', '-c', 'echo hello-from-b > /data/f'));

      // B's daemon found mnt1 through its own pxd-auth plugin (it was never created there).
      const inspect = await dkOk('B', ['volume', 'inspect', '--format', '{{.Driver}}', 'mnt1']);
      expect(inspect.stdout.trim()).toBe(PLUGIN_NAME);
      // B's proxy received no Create for mnt1 and sent none to pxd; it mounted with the token the record names.
      const bSent = forwarded('B');
      expect(bSent).not.toContain('Create');
      expect(bSent).toContain('Mount');
      const bAudits = audits('B');
      expect(bAudits.filter((l) => l.operation === 'create')).toEqual([]);
      const mounts = bAudits.filter((l) => l.operation === 'mount' && l.volume === 'mnt1');
      expect(mounts.length).toBeGreaterThanOrEqual(1);
      for (const m of mounts) expect(m).toMatchObject({ decision: 'allow', tokenSource: 'registry-secret', secretPath: SECRET });
      // It read the record from DC/OS (nothing else ran meanwhile), and pxd got user1's token on Mount.
      expect(gets()).toBeGreaterThan(getsBefore);
      expect(pxd!.requests.filter((q) => q.endpoint === '/VolumeDriver.Mount').length).toBeGreaterThan(mountsBefore);
      expect(pxd!.lastToken('Mount')).toBe(token);
      // The file is in the volume's one data folder, shared by every agent.
      expect(readFileSync(path.join(agent('B').storage.dataDir('mnt1'), 'f'), 'utf8')).toBe('hello-from-b\n');
    }, 120_000);

    it('docker run through agent A reads what was written through agent B', async () => {
      const aMountsBefore = forwarded('A').filter((e) => e === 'Mount').length;
      const r = await dkOk('A', runArgs('-v', 'mnt1:/data', IMAGE, 'cat', '/data/f'));
      expect(r.stdout).toBe('hello-from-b\n');
      expect(forwarded('A').filter((e) => e === 'Mount').length).toBeGreaterThan(aMountsBefore);
    }, 120_000);

    it('docker volume rm through agent B removes mnt1 at pxd and deletes the DC/OS record', async () => {
      await dkOk('B', ['volume', 'rm', 'mnt1']);
      expect(pxd!.volumes.has('mnt1')).toBe(false);
      expect(forwarded('B')).toContain('Remove');
      expect(forwarded('A')).not.toContain('Remove');
      expect(pxd!.lastToken('Remove')).toBe(token);
      expect(audits('B')).toContainEqual(
        expect.objectContaining({ operation: 'remove', volume: 'mnt1', decision: 'allow', tokenSource: 'registry-secret' }),
      );
      expect(dcos!.counters.secretWrites.get(`DELETE ${RECORD}`)).toBe(1);
      expect(dcos!.secret(RECORD)).toBeUndefined();
      const ls = await dkOk('B', ['volume', 'ls', '--format', '{{.Driver}} {{.Name}}']);
      expect(ls.stdout.split('\n')).not.toContain(`${PLUGIN_NAME} mnt1`);
    }, 120_000);

    it('leaves no token in docker output, the daemons’ logs or the proxies’ logs', () => {
      const texts = [...outputs.map((o) => o.stdout + o.stderr), ...Object.values(agents).flatMap((a) => [a.docker.log(), a.proxy.log()])];
      const signature = token.split('.')[2]!;
      for (const t of texts) {
        expect(t).not.toContain(token);
        expect(t).not.toContain(signature);
        for (const issued of dcos!.issuedTokens()) expect(t).not.toContain(issued);
      }
    });
  });
}
