/**
 * End to end: a private dockerd, the proxy as a real process on /run/docker/plugins/pxd-auth.sock
 * (a legacy plugin), the pxd double behind it and the DC/OS double as its secret store — all driven
 * through the docker CLI (and, for the DC/OS/Mesos path, through a dvdcli stand-in).
 *
 * Runs as part of `npm test`. Needs Linux and root; installs docker.io and busybox-static with apt when
 * they are missing. In CI (CI=true) it fails when it cannot run; elsewhere it is skipped, loudly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPxdDouble, type PxdDouble } from '../doubles/pxd/server.js';
import { startDcosDouble, type DcosDouble } from '../doubles/dcos/server.js';
import { makeRsaKeyPair, makeTestPki, type TestPki } from '../doubles/dcos/pki.js';
import { ISSUER, SHARED_SECRET, signHs256, userClaims } from '../helpers/tokens.js';
import {
  buildBusyboxImage,
  Dockerd,
  HostLeftovers,
  IMAGE,
  isCI,
  PLUGIN_NAME,
  PLUGIN_SOCKET,
  prepareE2e,
  run,
  socketAnswers,
  type RunResult,
} from './dockerd.js';
import { Cleanup } from './cleanup.js';
import { ProxyProcess, REPO_ROOT } from './proxy-process.js';
import { startSharedStorage, type SharedStorage } from './shared-storage.js';
import type { DvdcliCall } from './dvdcli.js';
import { installFromPluginFiles } from './installed.js';
import net from 'node:net';

/** A loopback port nobody listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitUntil(ok: () => boolean, ms: number, describe: () => string): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out; so far:\n${describe()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const availability = await prepareE2e();
const TITLE = 'docker end-to-end through pxd-auth-proxy';

if (!availability.ok) {
  if (isCI()) {
    describe(TITLE, () => {
      it('can run on this CI machine', () => {
        throw new Error(`CI=true, but the docker end-to-end suite cannot run here: ${availability.reason}`);
      });
    });
  } else {
    console.warn(`\n*** ${TITLE}: SKIPPED — ${availability.reason} ***\n`);
    describe.skip(`${TITLE} — SKIPPED: ${availability.reason}`, () => {
      it.skip(`skipped because ${availability.reason}`, () => {});
    });
  }
} else {
  const tools = availability;
  if (tools.notes.length) console.warn(`[e2e] setup notes:\n  ${tools.notes.join('\n  ')}`);

  const SA_UID = 'pxd-auth-proxy';
  const N1 = 'token_secret=pwx/secrets/user1-token,repl=3,name=myvol1';
  const STEAL = 'token_secret=pwx/secrets/user2-token,name=myvol1';
  const DVD_TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
  const DVD_SCRIPT = path.join(REPO_ROOT, 'test', 'e2e', 'dvdcli.ts');

  let dir: string;
  let leftovers: HostLeftovers;
  let pki: TestPki | undefined;
  let dcos: DcosDouble | undefined;
  let pxd: PxdDouble | undefined;
  let storage: SharedStorage | undefined;
  let proxy: ProxyProcess | undefined;
  let docker: Dockerd | undefined;
  let mountsRoot: string;
  let stateDir: string;
  const tokens = {} as Record<'user1' | 'user2' | 'user3' | 'viewer' | 'expired' | 'otherIssuer' | 'admin', string>;
  /** Every docker CLI result, for the final scan for tokens. */
  const outputs: RunResult[] = [];

  /** docker CLI; every result is kept for the leak scan. */
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
  const runArgs = (...rest: string[]) => ['run', '--rm', '--network', 'none', ...rest];
  async function volumeNames(): Promise<string[]> {
    const r = await dkOk(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}']);
    return r.stdout
      .split('\n')
      .filter((l) => l.startsWith(`${PLUGIN_NAME} `))
      .map((l) => l.slice(PLUGIN_NAME.length + 1))
      .sort();
  }
  /** A listed name stands for pxd volume `short`: the Docker name (…,name=short) or pxd's own short name. */
  const refersTo = (listed: string, short: string) => listed === short || new RegExp(`(^|,)name=${short}(,|$)`).test(listed);
  const isListed = (names: string[], short: string) => names.some((n) => refersTo(n, short));
  const forwarded = (endpoint: string) => pxd!.requests.filter((r) => r.endpoint === `/VolumeDriver.${endpoint}`);
  const lastForwarded = (endpoint: string) =>
    forwarded(endpoint).at(-1)?.parsed as { Name: string; ID?: string; Opts?: Record<string, string> | null } | undefined;

  /** The failing docker command printed the proxy's own text, as the daemon relays it. */
  function expectRefusal(r: RunResult, re: RegExp) {
    expect(r.code, `${r.cmd} should fail\nstdout: ${r.stdout}`).not.toBe(0);
    expect(r.stderr).toMatch(/Error response from daemon: /);
    expect(r.stderr).toMatch(re);
  }

  function expectNoSecrets(
    text: string,
    which: Array<keyof typeof tokens> = ['user1', 'user2', 'viewer', 'expired', 'otherIssuer', 'admin'],
  ) {
    for (const k of which) {
      const t = tokens[k];
      expect(text, `token of ${k}`).not.toContain(t);
      expect(text, `signature of the token of ${k}`).not.toContain(t.split('.')[2]!);
    }
  }

  /** Run the dvdcli stand-in as its own process, as the Mesos agent would. */
  async function dvdcli(args: string[]): Promise<RunResult & { calls: DvdcliCall[] }> {
    const r = await run(DVD_TSX, [DVD_SCRIPT, ...args], { env: { ...process.env, DVDCLI_TRACE: '1' }, cwd: REPO_ROOT, timeoutMs: 60_000 });
    const calls = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('dvdcli-trace '))
      .map((l) => JSON.parse(l.slice('dvdcli-trace '.length)) as DvdcliCall);
    return { ...r, calls };
  }

  describe.sequential(TITLE, () => {
    beforeAll(async () => {
      leftovers = new HostLeftovers();
      dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-e2e-'));
      mountsRoot = path.join(dir, 'mounts');
      stateDir = path.join(dir, 'state');
      mkdirSync(mountsRoot, { recursive: true });

      tokens.user1 = await signHs256(SHARED_SECRET, userClaims('user1'));
      tokens.user2 = await signHs256(SHARED_SECRET, userClaims('user2'));
      tokens.user3 = await signHs256(SHARED_SECRET, userClaims('user3'));
      tokens.admin = await signHs256(SHARED_SECRET, userClaims('admin', ['system.admin'], { groups: ['*'] }));
      tokens.viewer = await signHs256(SHARED_SECRET, userClaims('viewer', ['system.view']));
      tokens.expired = await signHs256(SHARED_SECRET, userClaims('user1'), { iatSec: 1_700_000_000, expSec: 1_700_003_600 });
      tokens.otherIssuer = await signHs256(SHARED_SECRET, { ...userClaims('user1'), iss: 'other.issuer' });

      // DC/OS: a service account for the proxy, allowed to read pwx/secrets/* only.
      pki = makeTestPki();
      const sa = makeRsaKeyPair();
      const keyFile = path.join(dir, 'sa.key');
      writeFileSync(keyFile, sa.pkcs8Pem, { mode: 0o600 });
      dcos = await startDcosDouble({
        tls: { serverKeyPem: pki.serverKeyPem, serverCertPem: pki.serverCertPem, ca: pki.ca },
        serviceAccounts: { [SA_UID]: sa.publicKeyPem },
        grants: { [SA_UID]: ['dcos:secrets:default:/pwx/secrets/* read', 'dcos:secrets:default:/pxd-auth-proxy/volumes/* full'] },
        secrets: {
          'pwx/secrets/user1-token': tokens.user1 + '\n',
          'pwx/secrets/user2-token': tokens.user2,
          'pwx/secrets/viewer-token': tokens.viewer,
          'pwx/secrets/expired-token': tokens.expired,
          'pwx/secrets/other-issuer': tokens.otherIssuer,
          // A decoy where pxd's own parser would look (`user1-token` cut at the dash).
          'pwx/secrets/user1': tokens.user2,
          // Exists, but the proxy's account may not read it.
          'pwx/restricted/admin-token': tokens.admin,
        },
      });

      pxd = await startPxdDouble({
        socketPath: path.join(dir, 'pxd.sock'),
        auth: { issuers: [{ name: ISSUER, sharedSecret: SHARED_SECRET }] },
        mountsRoot,
        makeMountDirs: true,
        defaultSize: '1G',
      });
      storage = await startSharedStorage({ socketPath: path.join(dir, 'backend.sock'), pxd, mountsRoot });

      const secretFile = path.join(dir, 'jwt-shared-secret');
      writeFileSync(secretFile, SHARED_SECRET + '\n', { mode: 0o600 });
      proxy = new ProxyProcess({
        socket: PLUGIN_SOCKET,
        backendSocket: storage.socketPath,
        mountsRoot,
        stateDir,
        secrets: 'dcos',
        issuer: ISSUER,
        sharedSecretFile: secretFile,
        logFile: path.join(dir, 'proxy.log'),
        env: {
          DCOS_CLUSTER_URL: dcos.url,
          DCOS_SECRETS_CA_CERT_FILE: pki.ca.certFile,
          DCOS_SERVICE_ACCOUNT: SA_UID,
          DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: keyFile,
        },
      });
      // The plugin starts before dockerd (as with systemd), so the daemon finds it when it scans.
      await proxy.start();

      docker = new Dockerd(path.join(dir, 'docker'), tools);
      mkdirSync(docker.dir, { recursive: true });
      await docker.start();
      await buildBusyboxImage(docker, tools.busybox, dir);
    }, 300_000);

    afterAll(async () => {
      const cleanup = new Cleanup('e2e');
      const step = cleanup.step.bind(cleanup);
      const pids = [...(docker?.pids ?? [])];
      // dockerd first (it holds the plugin connection and any container), then the plugin, then its backends.
      await step('stop dockerd', () => docker?.stop());
      await step('stop the proxy', async () => {
        const r = await proxy?.stop();
        if (proxy?.daemon === undefined && r && !r.startsWith('exited') && r !== 'not started') return [`proxy stop: ${r}`];
        return [];
      });
      await step('stop the shared storage', () => storage?.close());
      await step('stop the pxd double', () => pxd?.close());
      await step('stop the DC/OS double', () => dcos?.close());
      await step('remove the plugin socket', async () => {
        // The proxy unlinks it on a clean stop; after a SIGKILL it is left: ours (we checked it was free), so remove it.
        if (existsSync(PLUGIN_SOCKET) && !(await socketAnswers(PLUGIN_SOCKET))) unlinkSync(PLUGIN_SOCKET);
      });
      await step('host leftovers', () => leftovers?.cleanup());
      await step('pki', () => pki?.cleanup());
      cleanup.alive(pids, 'dockerd or its containerd');
      await cleanup.finish(dir);
    }, 120_000);

    it('1. docker volume create with token_secret in the name: token from DC/OS, no token in ls or inspect', async () => {
      // The label lives in dockerd's own record of the volume: it shows whether dockerd kept that record (7b).
      const r = await dkOk(['volume', 'create', '-d', PLUGIN_NAME, '--label', 'e2e=scenario1', '--name', N1]);
      expect(r.stdout.trim()).toBe(N1);

      // The token came from the DC/OS Secret Store, whole path (pxd would have read the decoy pwx/secrets/user1).
      expect(dcos!.counters.secretGets.get('pwx/secrets/user1-token')).toBeGreaterThanOrEqual(1);
      expect(dcos!.counters.secretGets.get('pwx/secrets/user1')).toBeUndefined();
      expect(dcos!.counters.loginsOk).toBeGreaterThanOrEqual(1);
      expect(pxd!.lastToken('Create')).toBe(tokens.user1);
      const vol = pxd!.volumes.get('myvol1');
      expect(vol?.owner).toBe('id/user1');
      expect(vol?.spec.repl).toBe('3');

      // `docker volume ls` shows what the driver's List answers (the Docker name, or pxd's short name).
      const ls = await dkOk(['volume', 'ls']);
      const lsJson = await dkOk(['volume', 'ls', '--format', '{{json .}}']);
      const listed = lsJson.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { Name: string; Driver: string })
        .filter((v) => v.Driver === PLUGIN_NAME)
        .map((v) => v.Name);
      expect(listed.filter((n) => refersTo(n, 'myvol1'))).toHaveLength(1);
      expect(ls.stdout).toContain(listed.find((n) => refersTo(n, 'myvol1')));
      const inspect = await dkOk(['volume', 'inspect', N1]);
      const info = JSON.parse(inspect.stdout) as Array<{ Name: string; Driver: string; Scope: string; Labels: Record<string, string> }>;
      expect(info).toHaveLength(1);
      expect(info[0]).toMatchObject({ Name: N1, Driver: PLUGIN_NAME, Scope: 'global', Labels: { e2e: 'scenario1' } });
      for (const out of [r, ls, lsJson, inspect]) expectNoSecrets(out.stdout + out.stderr);
    }, 120_000);

    it('2. docker run -v writes, a second container reads it back; pxd saw the token on Mount', async () => {
      const before = forwarded('Mount').length;
      const unmountsBefore = forwarded('Unmount').length;
      await dkOk(runArgs('-v', `${N1}:/data`, IMAGE, 'sh', '-c', 'echo hello-from-c1 > /data/hello.txt'));
      const r = await dkOk(runArgs('-v', `${N1}:/data`, IMAGE, 'cat', '/data/hello.txt'));
      expect(r.stdout.trim()).toBe('hello-from-c1');

      // dockerd 20.10 mounts twice per container (create: copy the image's /data into the new volume; start),
      // each time with a fresh 64-hex ID, and unmounts each with the same ID.
      const mounts = forwarded('Mount')
        .slice(before)
        .map((m) => m.parsed as { Name: string; ID: string });
      const unmounts = forwarded('Unmount')
        .slice(unmountsBefore)
        .map((m) => m.parsed as { Name: string; ID: string });
      expect(mounts.length).toBeGreaterThanOrEqual(2);
      const ids = mounts.map((m) => m.ID);
      for (const id of ids) expect(id).toMatch(/^[0-9a-f]{64}$/);
      expect(new Set(ids).size).toBe(ids.length);
      expect(unmounts.map((u) => u.ID).sort()).toEqual([...ids].sort());
      // pxd gets the token inside the Name (its Mount reads nothing else), and nothing it would not need
      // (repl is Create's business); Unmount is not authenticated and passes as is.
      for (const m of mounts) expect(m.Name).toBe(`name=myvol1,token=${tokens.user1}`);
      for (const u of unmounts) expect(u.Name).not.toContain('token=');
      expect(pxd!.lastToken('Mount')).toBe(tokens.user1);
      // The data really went through pxd's mountpoints (<root>/myvol1<ID>) into the volume.
      const mp = path.join(mountsRoot, `myvol1${ids[0]!}`);
      expect(lstatSync(mp).isSymbolicLink()).toBe(true);
      expect(readFileSync(path.join(storage!.dataDir('myvol1'), 'hello.txt'), 'utf8')).toBe('hello-from-c1\n');
    }, 120_000);

    it('3. a raw token inline (token=<jwt>,name=v2) works too', async () => {
      const name = `token=${tokens.user3},name=v2`;
      await dkOk(['volume', 'create', '-d', PLUGIN_NAME, '--name', name]);
      expect(pxd!.volumes.get('v2')?.owner).toBe('id/user3');
      expect(pxd!.lastToken('Create')).toBe(tokens.user3);
      await dkOk(runArgs('-v', `${name}:/data`, IMAGE, 'sh', '-c', 'echo three > /data/v2.txt'));
      const r = await dkOk(runArgs('-v', `${name}:/data`, IMAGE, 'cat', '/data/v2.txt'));
      expect(r.stdout.trim()).toBe('three');
      expect(pxd!.lastToken('Mount')).toBe(tokens.user3);
      // The name holds the token, so `inspect <name>` shows what the user typed; `volume ls` must not list it.
      const ls = await dkOk(['volume', 'ls', '--format', '{{.Driver}} {{.Name}} {{.Mountpoint}}']);
      expect(isListed(await volumeNames(), 'v2')).toBe(true);
      expectNoSecrets(ls.stdout + ls.stderr, ['user1', 'user3']);
    }, 120_000);

    it('4. --mount with volume-opt=token_secret creates; a later docker run -v mnt1 mounts from the remembered reference', async () => {
      await dkOk(
        runArgs(
          '--mount',
          `type=volume,source=mnt1,target=/data,volume-driver=${PLUGIN_NAME},volume-opt=token_secret=pwx/secrets/user1-token`,
          IMAGE,
          'sh',
          '-c',
          'echo from-mount-flag > /data/m.txt',
        ),
      );
      const created = forwarded('Create')
        .map((c) => c.parsed as { Name: string; Opts: Record<string, string> | null })
        .filter((c) => c.Name === 'mnt1');
      expect(created).toHaveLength(1);
      // The token travels in Opts; the token_secret path does not (pxd would store it as a label, or use it as the token).
      expect(created[0]!.Opts).toEqual({ token: tokens.user1 });
      expect(pxd!.volumes.get('mnt1')?.owner).toBe('id/user1');
      expect(pxd!.volumes.get('mnt1')?.labels.token_secret).toBeUndefined();

      // The state file remembers the reference (a path, never the token).
      const state = readFileSync(path.join(stateDir, 'state.json'), 'utf8');
      expect(state).toContain('pwx/secrets/user1-token');
      expectNoSecrets(state);

      const r = await dkOk(runArgs('-v', 'mnt1:/data', IMAGE, 'cat', '/data/m.txt'));
      expect(r.stdout.trim()).toBe('from-mount-flag');
      // Docker sent Mount{Name:"mnt1",ID}; the proxy put the token where pxd reads it.
      expect(lastForwarded('Mount')?.Name).toBe(`name=mnt1,token=${tokens.user1}`);
      expect(pxd!.lastToken('Mount')).toBe(tokens.user1);
    }, 120_000);

    it("5. denials reach the docker CLI as the proxy's precise text", async () => {
      const create = (name: string) => dk(['volume', 'create', '-d', PLUGIN_NAME, '--name', name]);
      const createsBefore = forwarded('Create').length;

      const expired = await create('token_secret=pwx/secrets/expired-token,name=e1');
      expectRefusal(
        expired,
        /create token_secret=pwx\/secrets\/expired-token,name=e1: pxd-auth TOKEN_EXPIRED: token from secret pwx\/secrets\/expired-token expired 2023-11-14T23:13:20/,
      );

      const issuer = await create('token_secret=pwx/secrets/other-issuer,name=e2');
      expectRefusal(
        issuer,
        /create token_secret=pwx\/secrets\/other-issuer,name=e2: pxd-auth TOKEN_ISSUER_UNTRUSTED: .*issuer "other\.issuer" is not trusted \(trusted: portworx\.com\)/,
      );

      const viewer = await create('token_secret=pwx/secrets/viewer-token,name=e3');
      expectRefusal(
        viewer,
        /create token_secret=pwx\/secrets\/viewer-token,name=e3: pxd-auth POLICY_ROLE_DENIED: role system\.view may not create volumes/,
      );

      const missing = await create('token_secret=pwx/secrets/missing-token,name=e4');
      expectRefusal(
        missing,
        /create token_secret=pwx\/secrets\/missing-token,name=e4: pxd-auth SECRET_NOT_FOUND: .*pwx\/secrets\/missing-token/,
      );
      expect(dcos!.counters.secretGets.get('pwx/secrets/missing-token')).toBeGreaterThanOrEqual(1);

      const forbidden = await create('token_secret=pwx/restricted/admin-token,name=e5');
      expectRefusal(
        forbidden,
        /create token_secret=pwx\/restricted\/admin-token,name=e5: pxd-auth SECRET_FORBIDDEN: .*grant dcos:secrets:default:\/pwx\/restricted\/admin-token read/,
      );
      expect(forbidden.stderr).toContain(SA_UID);

      // None of these reached pxd, none became a volume.
      expect(forwarded('Create').length).toBe(createsBefore);
      for (const v of ['e1', 'e2', 'e3', 'e4', 'e5']) expect(pxd!.volumes.has(v)).toBe(false);
      const names = await volumeNames();
      for (const r of [expired, issuer, viewer, missing, forbidden]) {
        const name = r.cmd.split(' ').at(-1)!;
        expect(isListed(names, /name=(e\d)$/.exec(name)![1]!)).toBe(false);
        expect((await dk(['volume', 'inspect', name])).code, `${name} must not exist in dockerd`).not.toBe(0);
      }

      // user2 "creates" user1's volume: dockerd asks Get first, which answers (Get is never authenticated,
      // or a dockerd restart would forget volumes), so dockerd records the name and never sends Create.
      // Nothing is exposed by that: the first Mount is where user2 is refused.
      const quiet = await dk(['volume', 'create', '-d', PLUGIN_NAME, '--label', 'e2e=steal', '--name', STEAL]);
      expect(quiet.code, quiet.stderr).toBe(0);
      expect(forwarded('Create').length).toBe(createsBefore);
      expect(pxd!.volumes.get('myvol1')?.owner).toBe('id/user1');
      // user2 names user1's volume in docker run: the Mount is refused with the proxy's text.
      const steal = await dk(runArgs('--volume-driver', PLUGIN_NAME, '-v', `${STEAL}:/data`, IMAGE, 'cat', '/data/hello.txt'));
      expectRefusal(steal, /pxd-auth BACKEND_DENIED: volume myvol1 belongs to another user: id\/user2 may not use it/);
      expect(steal.stdout).not.toContain('hello-from-c1');
      expect(pxd!.lastToken('Mount')).toBe(tokens.user2);

      for (const r of [expired, issuer, viewer, missing, forbidden, steal]) expectNoSecrets(r.stdout + r.stderr);
    }, 120_000);

    it("6. docker volume rm goes through the proxy; removing another user's volume is refused", async () => {
      const v2 = `token=${tokens.user3},name=v2`;
      await dkOk(['volume', 'rm', v2]);
      expect(pxd!.volumes.has('v2')).toBe(false);
      expect(pxd!.lastToken('Remove')).toBe(tokens.user3);
      expect(isListed(await volumeNames(), 'v2')).toBe(false);
      const gone = await dk(['volume', 'inspect', v2]);
      expect(gone.code).not.toBe(0);

      // `docker volume ls` shows pxd's short name; removing by that name carries no token at all.
      const short = await dk(['volume', 'rm', 'myvol1']);
      expectRefusal(
        short,
        /remove myvol1: pxd-auth TOKEN_MISSING: no token for remove of volume myvol1: .*name it token_secret=<path>,name=myvol1/,
      );
      expect(pxd!.volumes.has('myvol1')).toBe(true);

      // dockerd knows STEAL (step 5): removing it carries user2's token to user1's volume.
      const r = await dk(['volume', 'rm', STEAL]);
      expectRefusal(
        r,
        /remove token_secret=pwx\/secrets\/user2-token,name=myvol1: pxd-auth BACKEND_(ERROR|DENIED): volume myvol1 .*another user.*id\/user2/,
      );
      expect(pxd!.volumes.has('myvol1')).toBe(true);
      expect(pxd!.lastToken('Remove')).toBe(tokens.user2);
      // user1's volume and data are still there.
      const again = await dkOk(runArgs('-v', `${N1}:/data`, IMAGE, 'cat', '/data/hello.txt'));
      expect(again.stdout.trim()).toBe('hello-from-c1');
      expectNoSecrets(r.stdout + r.stderr);
    }, 120_000);

    it('7a. restarting the proxy while dockerd runs loses nothing: the state file, and dockerd reconnects', async () => {
      const before = await volumeNames();
      const stopped = await proxy!.stop();
      expect(stopped).toMatch(/^exited \(exited with code 0\)/);
      expect(existsSync(PLUGIN_SOCKET)).toBe(false);
      const getsBefore = dcos!.counters.secretGets.get('pwx/secrets/user1-token') ?? 0;
      await proxy!.start();

      const r = await dkOk(runArgs('-v', 'mnt1:/data', IMAGE, 'cat', '/data/m.txt'));
      expect(r.stdout.trim()).toBe('from-mount-flag');
      expect(lastForwarded('Mount')?.Name).toBe(`name=mnt1,token=${tokens.user1}`);
      // A new process has an empty cache: it read the secret again.
      expect(dcos!.counters.secretGets.get('pwx/secrets/user1-token') ?? 0).toBeGreaterThan(getsBefore);
      expect(await volumeNames()).toEqual(before);
    }, 120_000);

    it('7b. restarting dockerd while DC/OS is down loses no volume (Get is never refused)', async () => {
      const before = await volumeNames();
      expect(isListed(before, 'myvol1') && isListed(before, 'mnt1')).toBe(true);
      const getsBefore = forwarded('Get').length;
      const logBefore = docker!.log().length;
      dcos!.down = true;
      try {
        await docker!.stop();
        await docker!.start();
        // On start dockerd asked the plugin (Get) about every volume it has on record; an Err would have
        // purged the record. Its own records survived: the labels given at create, the options given with --mount.
        expect(forwarded('Get').length).toBeGreaterThan(getsBefore);
        expect(await volumeNames()).toEqual(before);
        const n1 = await dkOk(['volume', 'inspect', '--format', '{{json .Labels}}', N1]);
        expect(JSON.parse(n1.stdout)).toEqual({ e2e: 'scenario1' });
        const m1 = await dkOk(['volume', 'inspect', '--format', '{{json .Options}}', 'mnt1']);
        expect(JSON.parse(m1.stdout)).toEqual({ token_secret: 'pwx/secrets/user1-token' });
        const st = await dkOk(['volume', 'inspect', '--format', '{{.Name}} {{.Driver}} {{json .Labels}}', STEAL]);
        expect(st.stdout.trim()).toBe(`${STEAL} ${PLUGIN_NAME} {"e2e":"steal"}`);
        const restartLog = docker!.log().slice(logBefore);
        expect(restartLog).toMatch(/Daemon has completed initialization/);
        expect(restartLog).not.toMatch(/Error restoring volume|pxd-auth [A-Z_]+:/);
        // DC/OS really is down: a token that is not cached cannot be read, and the user is told why.
        const outage = await dk(['volume', 'create', '-d', PLUGIN_NAME, '--name', 'token_secret=pwx/secrets/outage-token,name=outage']);
        expectRefusal(
          outage,
          /create token_secret=pwx\/secrets\/outage-token,name=outage: pxd-auth SECRET_STORE_UNAVAILABLE: create of volume outage: DC\/OS at https:\/\/127\.0\.0\.1:\d+ is unreachable/,
        );
      } finally {
        dcos!.down = false;
      }
      // And the volumes still work after the outage.
      const r = await dkOk(runArgs('-v', `${N1}:/data`, IMAGE, 'cat', '/data/hello.txt'));
      expect(r.stdout.trim()).toBe('hello-from-c1');
    }, 180_000);

    it('8a. dvdcli (the DC/OS/Mesos path): mount with --volumeopts, N mounts with no ID, one unmount', async () => {
      const args = ['--volumedriver=pxd-auth', '--volumename=dvdvol1'];
      const m1 = await dvdcli(['mount', ...args, '--volumeopts=token_secret=pwx/secrets/user1-token', '--volumeopts=size=2G']);
      expect(m1.code, m1.stderr).toBe(0);
      const mountpoint = path.join(mountsRoot, 'dvdvol1');
      expect(m1.stdout.trim()).toBe(mountpoint);
      expect(m1.calls.map((c) => c.endpoint)).toEqual(['Plugin.Activate', 'VolumeDriver.Get', 'VolumeDriver.Create', 'VolumeDriver.Mount']);
      expect(m1.calls[2]!.body).toEqual({ Name: 'dvdvol1', Opts: { token_secret: 'pwx/secrets/user1-token', size: '2G' } });
      expect(m1.calls[3]!.body).toEqual({ Name: 'dvdvol1' });
      expect(pxd!.volumes.get('dvdvol1')?.owner).toBe('id/user1');
      expect(pxd!.volumes.get('dvdvol1')?.size).toBe(2 * 1024 ** 3);
      expect(lastForwarded('Mount')).toEqual({ Name: `name=dvdvol1,token=${tokens.user1}` });
      expect(realpathSync(mountpoint)).toBe(realpathSync(storage!.dataDir('dvdvol1')));

      // A second task on the same agent: mount again (no Create), then the one unmount when the last is gone.
      const m2 = await dvdcli(['mount', ...args, '--volumeopts=token_secret=pwx/secrets/user1-token', '--volumeopts=size=2G']);
      expect(m2.code, m2.stderr).toBe(0);
      expect(m2.stdout.trim()).toBe(mountpoint);
      expect(m2.calls.map((c) => c.endpoint)).toEqual(['Plugin.Activate', 'VolumeDriver.Get', 'VolumeDriver.Mount']);
      const u = await dvdcli(['unmount', ...args]);
      expect(u.code, u.stderr).toBe(0);
      expect(u.calls.map((c) => c.endpoint)).toEqual(['Plugin.Activate', 'VolumeDriver.Get', 'VolumeDriver.Unmount']);
      expect(u.calls[2]!.body).toEqual({ Name: 'dvdvol1' });
      expect(lastForwarded('Unmount')?.ID ?? '').toBe('');
      for (const r of [m1, m2, u]) expectNoSecrets(r.stdout + r.stderr);

      // A refusal reaches the Mesos agent's log the same way.
      const bad = await dvdcli([
        'mount',
        '--volumedriver=pxd-auth',
        '--volumename=dvdbad',
        '--volumeopts=token_secret=pwx/secrets/viewer-token',
      ]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/dvdcli: create dvdbad: pxd-auth POLICY_ROLE_DENIED: role system\.view may not create volumes/);
    }, 120_000);

    it('8b. the Marathon examples: a Docker app with the reference in the name, a UCR app with dvdi/token_secret', async () => {
      type ExternalVolume = {
        containerPath: string;
        mode: string;
        external: { name: string; provider: string; size?: number; options: Record<string, string> };
      };
      type App = { id: string; container: { type: string; docker?: { image: string }; volumes: ExternalVolume[] } };
      const dockerApp = JSON.parse(readFileSync(path.join(REPO_ROOT, 'docs', 'marathon', 'app-docker.json'), 'utf8')) as App;
      const ucrApp = JSON.parse(readFileSync(path.join(REPO_ROOT, 'docs', 'marathon', 'app-ucr.json'), 'utf8')) as App;

      // Docker containers: only dvdi/driver may be set, so everything else travels inside the name.
      expect(dockerApp.container.type).toBe('DOCKER');
      const dv = dockerApp.container.volumes[0]!;
      expect(dv.external.provider).toBe('dvdi');
      expect(dv.external.options).toEqual({ 'dvdi/driver': PLUGIN_NAME });
      expect(dv.external.name).toMatch(/(^|,)token_secret=pwx\/secrets\/[A-Za-z0-9_./-]+(,|$)/);
      expect(dv.external.name).toMatch(/(^|,)name=[A-Za-z0-9_-]+(,|$)/);
      expect(dv.external.size).toBeUndefined();
      expect(dv.mode).toBe('RW');
      // What Mesos's Docker containerizer runs for it: --volume-driver <dvdi/driver> -v <name>:<containerPath>:rw.
      const shortName = /(?:^|,)name=([A-Za-z0-9_-]+)/.exec(dv.external.name)![1]!;
      await dkOk(
        runArgs(
          '--volume-driver',
          dv.external.options['dvdi/driver']!,
          '-v',
          `${dv.external.name}:${dv.containerPath}:rw`,
          IMAGE,
          'sh',
          '-c',
          `echo marathon > ${dv.containerPath}/started.txt`,
        ),
      );
      expect(pxd!.volumes.get(shortName)?.owner).toBe('id/user1');
      expect(readFileSync(path.join(storage!.dataDir(shortName), 'started.txt'), 'utf8')).toBe('marathon\n');

      // UCR (MESOS) containers: the name is plain, dvdi/* options become dvdcli --volumeopts (Create only).
      expect(ucrApp.container.type).toBe('MESOS');
      const uv = ucrApp.container.volumes[0]!;
      expect(uv.external.provider).toBe('dvdi');
      expect(uv.external.name).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(uv.external.options['dvdi/driver']).toBe(PLUGIN_NAME);
      expect(uv.external.options['dvdi/token_secret']).toMatch(/^pwx\/secrets\/[A-Za-z0-9_./-]+$/);
      // What the Mesos docker/volume isolator runs: dvdcli mount --volumedriver --volumename --volumeopts...
      const volumeOpts: Record<string, string> = Object.fromEntries(
        Object.entries(uv.external.options)
          .filter(([k]) => k.startsWith('dvdi/') && k !== 'dvdi/driver')
          .map(([k, v]) => [k.slice('dvdi/'.length), v]),
      );
      if (uv.external.size !== undefined) volumeOpts.size = String(uv.external.size);
      const target = [`--volumedriver=${uv.external.options['dvdi/driver']}`, `--volumename=${uv.external.name}`];
      const m = await dvdcli(['mount', ...target, ...Object.entries(volumeOpts).map(([k, v]) => `--volumeopts=${k}=${v}`)]);
      expect(m.code, m.stderr).toBe(0);
      expect(m.calls.find((c) => c.endpoint === 'VolumeDriver.Create')?.body).toEqual({ Name: uv.external.name, Opts: volumeOpts });
      expect(m.stdout.trim()).toBe(path.join(mountsRoot, uv.external.name));
      // pxd got every option but the reference, and the token from the secret it names.
      const { token_secret: secretPath, ...rest } = volumeOpts;
      expect(secretPath).toBe('pwx/secrets/user1-token');
      const created = forwarded('Create')
        .map((c) => c.parsed as { Name: string; Opts: Record<string, string> })
        .find((c) => c.Name === uv.external.name);
      expect(created?.Opts).toEqual({ ...rest, token: tokens.user1 });
      expect(pxd!.volumes.get(uv.external.name)?.owner).toBe('id/user1');
      const u = await dvdcli(['unmount', ...target]);
      expect(u.code, u.stderr).toBe(0);
    }, 120_000);

    it('leaves no token in docker output, the daemon log or the proxy log', () => {
      const cli = outputs.map((o) => o.stdout + o.stderr).join('\n');
      // user3's token was typed into a volume name by the user (step 3): Docker shows what was typed.
      expectNoSecrets(cli);
      expectNoSecrets(docker!.log());
      const proxyLog = proxy!.log();
      expect(proxyLog).toContain('pxd-auth-proxy listening');
      expectNoSecrets(proxyLog, ['user1', 'user2', 'user3', 'viewer', 'expired', 'otherIssuer', 'admin']);
      for (const t of dcos!.issuedTokens()) {
        expect(proxyLog).not.toContain(t);
        expect(docker!.log()).not.toContain(t);
      }
      // Mount folders are named after pxd's short names, never after a name holding a token.
      for (const n of readdirSync(mountsRoot)) expect(n).not.toMatch(/token|eyJ/);
    });

    it('9. installed from plugin/ as docs/install.md says: socket unit, service unit, env file, YAML', async () => {
      // The operator replaces the hand-started proxy with the packaged install; dockerd keeps running.
      await proxy!.stop();
      expect(existsSync(PLUGIN_SOCKET)).toBe(false);
      const adminPort = await freePort();
      const installed = await installFromPluginFiles({
        root: path.join(dir, 'agent'),
        logFile: path.join(dir, 'installed.log'),
        files: { 'shared-secret': SHARED_SECRET + '\n', 'private-key.pem': readFileSync(path.join(dir, 'sa.key'), 'utf8') },
        env: {
          DCOS_CLUSTER_URL: dcos!.url,
          DCOS_SECRETS_CA_CERT_FILE: pki!.ca.certFile,
          DCOS_SERVICE_ACCOUNT: SA_UID,
          PXD_AUTH_BACKEND: `unix://${storage!.socketPath}`,
          PXD_AUTH_MOUNTS_ROOT: mountsRoot,
          PXD_AUTH_STATE_DIR: stateDir,
          PXD_AUTH_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
        },
      });
      try {
        expect(installed.socket).toBe(PLUGIN_SOCKET);
        await waitUntil(
          () => installed.log().includes('pxd-auth-proxy listening'),
          20_000,
          () => installed.log(),
        );
        expect(lstatSync(PLUGIN_SOCKET).mode & 0o777).toBe(installed.socketMode);
        expect(installed.socketMode).toBe(0o660);
        // Step 5 of the docs: readiness on the admin listener.
        const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
        expect(ready.status).toBe(200);
        expect(await ready.json()).toMatchObject({ status: 'ready', checks: { socket: true, backend: true, secrets: true } });

        // Same state folder: the -o token_secret reference of mnt1 is still known.
        const r = await dkOk(runArgs('-v', 'mnt1:/data', IMAGE, 'cat', '/data/m.txt'));
        expect(r.stdout.trim()).toBe('from-mount-flag');

        // The service dies; the socket unit keeps the socket, so dockerd's next calls wait for the restart.
        const pid = Number(/\[supervisor\] started (\d+)/.exec(installed.log())![1]);
        process.kill(pid, 'SIGKILL');
        const during = await dkOk(runArgs('-v', `${N1}:/data`, IMAGE, 'cat', '/data/hello.txt'));
        expect(during.stdout.trim()).toBe('hello-from-c1');
        expect(installed.log().match(/\[supervisor\] started \d+/g)!.length).toBeGreaterThanOrEqual(2);

        const name = 'token_secret=pwx/secrets/user2-token,name=installed9';
        await dkOk(['volume', 'create', '-d', PLUGIN_NAME, '--name', name]);
        expect(pxd!.volumes.get('installed9')?.owner).toBe('id/user2');
        await dkOk(['volume', 'rm', name]);
        expectNoSecrets(installed.log(), ['user1', 'user2', 'user3', 'viewer', 'expired', 'otherIssuer', 'admin']);
      } finally {
        await installed.stop();
      }
      expect(existsSync(PLUGIN_SOCKET)).toBe(false);
    }, 180_000);
  });
}
