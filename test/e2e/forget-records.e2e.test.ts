/**
 * End to end: docs/install.md, "Removing it", step 2, "Keep the data, forget the record", against a real
 * dockerd (docker.io 20.10). The dockerd and the proxy run in a mount namespace of their own
 * (agent-namespace.ts): the plugin folder the docs name, /run/docker/plugins, is that namespace's, never
 * the machine's, so the docs' block runs there word for word (bash with job control, as an operator's
 * shell; `docker` reaches the test's daemon through DOCKER_HOST).
 *
 * What dockerd 20.10 does (volume/service/store.go):
 *   - `docker volume ls -f driver=pxd-auth` lists what the driver's List answers. Only when List fails
 *     does it list its own records of that driver instead (the volumes of a "bad driver").
 *   - `docker volume rm -f <name>` asks the driver (Get). An Err from Get (not a connection error) makes
 *     dockerd purge the record, and -f turns the "no such volume" that follows into success: no Remove
 *     is sent. With no plugin socket at all, Get is a connection error: retried for 15 s, then it fails.
 * So a stand-in that knows no volume is not enough: its List answers an empty list, `ls` prints nothing
 * and nothing is forgotten. A stand-in whose backend is missing answers both List and Get with an error:
 * `ls` prints dockerd's records and `rm -f` forgets each.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPxdDouble, type PxdDouble } from '../doubles/pxd/server.js';
import { ISSUER, SHARED_SECRET, signHs256, userClaims } from '../helpers/tokens.js';
import {
  Dockerd,
  ensureE2eTools,
  isCI,
  killPid,
  PLUGIN_NAME,
  PLUGIN_SOCKET,
  run,
  which,
  type E2eTools,
  type RunResult,
} from './dockerd.js';
import { Cleanup } from './cleanup.js';
import { ProxyProcess, PROXY_MAIN, REPO_ROOT } from './proxy-process.js';
import { AgentNamespace } from './agent-namespace.js';

const TITLE = 'docs/install.md, removing it: keep the data, forget dockerd’s records';
const SECRET = 'pwx/secrets/user1-token';
const PLAIN = 'forget-plain';
const INLINE_SHORT = 'forget-inline';
const INLINE = `token_secret=${SECRET},name=${INLINE_SHORT}`;
const BOTH = [PLAIN, INLINE].sort();
/** Kept in dockerd's own record of a volume: it shows whether that record survived. */
const LABEL = 'e2e=forget';

/** The procedure that works (docs/install.md's block must read the same). */
const FORGET_BLOCK = [
  'cd "$(mktemp -d)" && pxd-auth-proxy serve --embedded --backend "unix://$PWD/none.sock" --socket /run/docker/plugins/pxd-auth.sock >stand-in.log &',
  'docker volume ls -q -f driver=pxd-auth | xargs -r -n1 docker volume rm -f',
  'kill %1',
].join('\n');
/** What docs/install.md said before: a stand-in that knows no volume (the embedded default, List answers none). */
const KNOWS_NONE_BLOCK = FORGET_BLOCK.replace(' --backend "unix://$PWD/none.sock"', '');
/** dockerd's records of pxd-auth: the stand-in of FORGET_BLOCK (its List fails), then only the ls. */
const RECORDS_BLOCK = FORGET_BLOCK.replace(/ \| xargs .*/, '');

/** The fenced sh block of docs/install.md that starts the stand-in. */
function docsBlock(): string {
  const md = readFileSync(path.join(REPO_ROOT, 'docs', 'install.md'), 'utf8');
  const removing = md.slice(md.indexOf('## Removing it'));
  const blocks = [...removing.matchAll(/^( *)```sh\n([\s\S]*?)^\1```$/gm)].map((m) =>
    m[2]!
      .split('\n')
      .map((l) => l.slice(m[1]!.length))
      .join('\n')
      .trim(),
  );
  const found = blocks.filter((b) => b.includes('serve --embedded'));
  if (found.length !== 1) throw new Error(`expected one sh block with "serve --embedded" under "## Removing it", found ${found.length}`);
  return found[0]!;
}

/** A dockerd whose key file and configuration are its own (as in two-agents.e2e.test.ts). */
function agentDockerd(dir: string, tools: Pick<E2eTools, 'dockerd' | 'docker'>, ns: AgentNamespace): Dockerd {
  const configFile = path.join(dir, 'daemon.json');
  mkdirSync(dir, { recursive: true });
  writeFileSync(configFile, JSON.stringify({ 'deprecated-key-path': path.join(dir, 'key.json') }) + '\n');
  return new Dockerd(dir, tools, { launcher: ns.launcher(), extraArgs: ['--config-file', configFile] });
}

/** Processes whose working folder is under `dir`: a stand-in the shell left behind. */
function processesIn(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cwd = readlinkSync(`/proc/${p}/cwd`);
      if (cwd === dir || cwd.startsWith(dir + '/')) out.push(Number(p));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return out;
}

const tools = await ensureE2eTools();

if (!tools.ok) {
  if (isCI()) {
    describe(TITLE, () => {
      it('can run on this CI machine', () => {
        throw new Error(`CI=true, but the docker end-to-end suites cannot run here: ${tools.reason}`);
      });
    });
  } else {
    console.warn(`\n*** ${TITLE}: SKIPPED — ${tools.reason} ***\n`);
    describe.skip(`${TITLE} — SKIPPED: ${tools.reason}`, () => {
      it.skip(`skipped because ${tools.reason}`, () => {});
    });
  }
} else {
  let dir: string;
  let ns: AgentNamespace | undefined;
  let pxd: PxdDouble | undefined;
  let proxy: ProxyProcess | undefined;
  let docker: Dockerd | undefined;
  let token: string;
  /** The folder each block's mktemp -d is made in. */
  let standInTmp: string;
  const outputs: RunResult[] = [];
  const standInLogs: string[] = [];

  async function dk(args: string[]): Promise<RunResult> {
    const r = await docker!.cli(args);
    outputs.push(r);
    return r;
  }
  async function dkOk(args: string[]): Promise<RunResult> {
    const r = await dk(args);
    expect(r.code, `${r.cmd}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
    return r;
  }
  const lines = (text: string) => text.split('\n').filter(Boolean);
  const lsNames = async () => lines((await dkOk(['volume', 'ls', '-q', '-f', `driver=${PLUGIN_NAME}`])).stdout).sort();
  /** Volumes whose dockerd record carries the label given at create. */
  const labelled = async () => lines((await dkOk(['volume', 'ls', '-q', '-f', `label=${LABEL}`])).stdout).sort();
  const removes = () => pxd!.requests.filter((r) => r.endpoint === '/VolumeDriver.Remove').map((r) => r.endpoint);

  let blocks = 0;
  /**
   * Run an sh block as an operator would on the agent: bash with job control (so `kill %1` signals the
   * job's process group), in the agent's namespace, `docker` pointed at the test's daemon. `pxd-auth-proxy`
   * runs the built proxy and keeps its exit code; `docker` keeps a line per call: its arguments (names and
   * secret paths, never a token) and its exit code.
   */
  async function runBlock(name: string, block: string) {
    const base = path.join(dir, `block-${++blocks}-${name}`);
    const bin = path.join(base, 'bin');
    const tmp = path.join(standInTmp, `${blocks}-${name}`);
    const calls = path.join(base, 'docker-calls');
    const exitFile = path.join(base, 'stand-in-exit');
    mkdirSync(bin, { recursive: true });
    mkdirSync(tmp);
    // The job's shell dies of kill %1's SIGTERM; this wrapper ignores it (the proxy handles its own) to report the proxy's exit.
    writeFileSync(
      path.join(bin, 'pxd-auth-proxy'),
      `#!/bin/sh\ntrap '' TERM INT\n${process.execPath} ${PROXY_MAIN} "$@"\necho $? > ${exitFile}\n`,
      {
        mode: 0o755,
      },
    );
    writeFileSync(
      path.join(bin, 'docker'),
      `#!/bin/sh\n${(tools as E2eTools).docker} "$@"\nrc=$?\necho "rc=$rc docker $*" >> ${calls}\nexit $rc\n`,
      {
        mode: 0o755,
      },
    );
    const env = {
      ...docker!.cliEnv(),
      PATH: `${bin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
      DOCKER_HOST: `unix://${docker!.socket}`,
      TMPDIR: tmp,
    };
    const [nsenter, ...pre] = ns!.launcher();
    const r = await run(nsenter!, [...pre, which('bash') ?? 'bash', '-c', `set -m\n${block}\nwait\n`], { env, timeoutMs: 90_000 });
    outputs.push(r);
    // The stand-in outlives its job's shell by the time it takes to close: wait for it by its working folder.
    for (let i = 0; i < 100 && (processesIn(tmp).length || !existsSync(exitFile)); i++) await new Promise((res) => setTimeout(res, 50));
    const folders = readdirSync(tmp);
    const log = folders.length === 1 ? readFileSync(path.join(tmp, folders[0]!, 'stand-in.log'), 'utf8') : '';
    standInLogs.push(log);
    return {
      code: r.code,
      stdout: r.stdout,
      stderr: `${r.stderr}\nstand-in log:\n${log}`,
      dockerCalls: existsSync(calls) ? lines(readFileSync(calls, 'utf8')) : [],
      exit: existsSync(exitFile) ? readFileSync(exitFile, 'utf8').trim() : 'none',
      left: processesIn(tmp),
      log,
    };
  }
  /** dockerd's records of pxd-auth, as `docker volume ls` shows them when the driver's List fails. */
  async function records(): Promise<string[]> {
    const b = await runBlock('records', RECORDS_BLOCK);
    expect(b.code, b.stderr).toBe(0);
    expect(b.exit, b.stderr).toBe('0');
    return lines(b.stdout).sort();
  }

  describe.sequential(TITLE, () => {
    beforeAll(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-e2e-forget-'));
      standInTmp = path.join(dir, 'tmp');
      mkdirSync(standInTmp);
      token = await signHs256(SHARED_SECRET, userClaims('user1'));
      const secretsDir = path.join(dir, 'secrets');
      mkdirSync(path.join(secretsDir, path.dirname(SECRET)), { recursive: true });
      writeFileSync(path.join(secretsDir, SECRET), token + '\n', { mode: 0o600 });
      const secretFile = path.join(dir, 'jwt-shared-secret');
      writeFileSync(secretFile, SHARED_SECRET + '\n', { mode: 0o600 });
      const mountsRoot = path.join(dir, 'mounts');
      mkdirSync(mountsRoot);

      pxd = await startPxdDouble({
        socketPath: path.join(dir, 'pxd.sock'),
        auth: { issuers: [{ name: ISSUER, sharedSecret: SHARED_SECRET }] },
        mountsRoot,
        makeMountDirs: true,
        defaultSize: '1G',
      });
      ns = new AgentNamespace('forget', path.join(dir, 'agent'));
      await ns.start();
      proxy = new ProxyProcess({
        socket: PLUGIN_SOCKET,
        probeSocket: ns.hostPath(PLUGIN_SOCKET),
        launcher: ns.launcher(),
        backendSocket: pxd.socketPath,
        mountsRoot,
        stateDir: path.join(dir, 'state'),
        secrets: `file:${secretsDir}`,
        issuer: ISSUER,
        sharedSecretFile: secretFile,
        logFile: path.join(dir, 'proxy.log'),
      });
      await proxy.start();
      docker = agentDockerd(path.join(dir, 'docker'), tools, ns);
      await docker.start();
    }, 120_000);

    afterAll(async () => {
      const cleanup = new Cleanup('e2e forget');
      const step = cleanup.step.bind(cleanup);
      const pids = [...(docker?.pids ?? [])];
      await step('stop dockerd', () => docker?.stop());
      await step('stop the proxy', async () => {
        const r = await proxy?.stop();
        return r === undefined || r.startsWith('exited') || r === 'not started' ? [] : [`proxy stop: ${r}`];
      });
      await step('stand-in leftovers', async () => {
        const left = standInTmp ? processesIn(standInTmp) : [];
        for (const p of left) await killPid(p, 5_000);
        return left.map((p) => `a stand-in (pid ${p}) outlived the docs' block and was stopped`);
      });
      await step('stop the namespace', () => ns?.stop());
      await step('stop the pxd double', () => pxd?.close());
      cleanup.alive(pids, 'dockerd or its containerd');
      await cleanup.finish(dir);
    }, 120_000);

    it('creates two volumes through the proxy: dockerd lists them, pxd holds them', async () => {
      await dkOk(['volume', 'create', '-d', PLUGIN_NAME, '--label', LABEL, '--name', PLAIN, '-o', `token_secret=${SECRET}`]);
      await dkOk(['volume', 'create', '-d', PLUGIN_NAME, '--label', LABEL, '--name', INLINE]);
      expect(await lsNames()).toEqual(BOTH);
      expect(await labelled()).toEqual(BOTH);
      expect(pxd!.volumes.get(PLAIN)?.owner).toBe('id/user1');
      expect(pxd!.volumes.get(INLINE_SHORT)?.owner).toBe('id/user1');
    }, 60_000);

    it('the proxy stops on SIGTERM and takes its socket away', async () => {
      expect(await proxy!.stop()).toMatch(/^exited \(exited with code 0\)/);
      expect(existsSync(ns!.hostPath(PLUGIN_SOCKET))).toBe(false);
    });

    it('a stand-in that knows no volume (List answers none) leaves every record: docker volume ls shows nothing to remove', async () => {
      const b = await runBlock('knows-none', KNOWS_NONE_BLOCK);
      expect(b.code, b.stderr).toBe(0);
      // The ls printed nothing, so xargs ran no docker volume rm at all.
      expect(b.dockerCalls).toEqual([`rc=0 docker volume ls -q -f driver=${PLUGIN_NAME}`]);
      expect(b.exit, b.stderr).toBe('0');
      // dockerd still holds both records, as a stand-in whose List fails shows.
      expect(await records()).toEqual(BOTH);
      expect(removes()).toEqual([]);
    }, 60_000);

    it('the stand-in with no backend: dockerd lists its records, forgets each on docker volume rm -f, nothing reaches pxd', async () => {
      const b = await runBlock('forget', FORGET_BLOCK);
      expect(b.code, b.stderr).toBe(0);
      // ls listed dockerd's own records (the stand-in's List failed), and rm -f succeeded for each.
      expect(b.dockerCalls).toEqual([
        `rc=0 docker volume ls -q -f driver=${PLUGIN_NAME}`,
        ...BOTH.map((n) => `rc=0 docker volume rm -f ${n}`),
      ]);
      // kill %1: the stand-in stopped on SIGTERM, exited 0 and removed its socket.
      expect(b.exit, b.stderr).toBe('0');
      expect(b.left).toEqual([]);
      expect(b.log).toMatch(/"signal":"SIGTERM","msg":"stopping/);
      expect(existsSync(ns!.hostPath(PLUGIN_SOCKET))).toBe(false);
      // Every request the stand-in had was answered with an error (List, Get): no Create, Remove or Mount.
      expect(b.log).not.toMatch(/"operation":"(create|remove|mount)"/);

      expect(await records()).toEqual([]);
      // pxd received no Remove and still holds both volumes.
      expect(removes()).toEqual([]);
      expect([...pxd!.volumes.keys()].sort()).toEqual([PLAIN, INLINE_SHORT].sort());
    }, 60_000);

    it('with a proxy again, the volumes are still there, under new records', async () => {
      await proxy!.start();
      // The records with their labels are gone; pxd's volumes are listed by the proxy and used anew.
      expect(await labelled()).toEqual([]);
      expect(await lsNames()).toEqual(BOTH);
      const r = await dkOk(['volume', 'inspect', '--format', '{{.Driver}} {{json .Labels}}', INLINE]);
      expect(r.stdout.trim()).toMatch(new RegExp(`^${PLUGIN_NAME} (null|\\{\\})$`));
      expect(removes()).toEqual([]);
    }, 60_000);

    it('docs/install.md shows the block this test runs', () => {
      expect(docsBlock(), 'the stand-in block of docs/install.md, Removing it, step 2').toBe(FORGET_BLOCK);
    });

    it('leaves no token in docker output, the daemon log or the proxies’ logs', () => {
      const signature = token.split('.')[2]!;
      for (const t of [...outputs.map((o) => o.stdout + o.stderr), docker!.log(), proxy!.log(), ...standInLogs]) {
        expect(t.includes(token), 'a token in the output').toBe(false);
        expect(t.includes(signature), "a token's signature in the output").toBe(false);
      }
    });
  });
}
