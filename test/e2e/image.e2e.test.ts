/**
 * The image, built and run here (issue 15, section 1): `docker build` of the repository's Dockerfile
 * (legacy builder, `--network host`), then the container started with the `docker run` of
 * docs/install.md, taken from the document itself (its host paths replaced by the test's folders), in a
 * private dockerd whose /run/docker/plugins is a folder of the test (image-host.ts). Docker then uses the
 * containerised proxy for a volume create, a `docker run -v` and a volume rm; its HEALTHCHECK turns
 * healthy; `docker stop` drains it and it removes its socket.
 *
 * Backends: the pxd double on the plugin folder's pxd.sock (the YAML example's backend) and the DC/OS
 * double (the env file's login: a service account and its key), reached on the host network.
 *
 * The base images come from the registry when it can be reached, otherwise from stand-ins made from
 * Debian's mirror and the npm registry (base-image.ts); the test prints which. It also prints the
 * build time, the image's size and its times to a socket and to `healthy` (bench/README.md).
 *
 * Needs Linux and root like the other docker suites; in CI their absence fails the suite.
 * PXA_E2E_IMAGE=0 skips it outside CI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startPxdDouble, type PxdDouble } from '../doubles/pxd/server.js';
import { startDcosDouble, type DcosDouble } from '../doubles/dcos/server.js';
import { makeRsaKeyPair, makeTestPki, type TestPki } from '../doubles/dcos/pki.js';
import { SHARED_SECRET, signHs256, userClaims } from '../helpers/tokens.js';
import { buildBusyboxImage, ensureE2eTools, IMAGE as BUSYBOX, isCI, PLUGIN_NAME, run, socketAnswers, type RunResult } from './dockerd.js';
import { Cleanup } from './cleanup.js';
import { REPO_ROOT } from './proxy-process.js';
import { ImageHost } from './image-host.js';
import { dockerfileArgDefaults, provideBaseImages, type BaseImages } from './base-image.js';

const TITLE = 'the image: docker build of the Dockerfile, run as docs/install.md says';
const SA_UID = 'pxd-auth-proxy';
const SECRET = 'pwx/secrets/user1-token';
const REFERENCES = 'pxd-auth-proxy/volumes';

// ---- docs/install.md's `docker run`, made the test's -------------------------------------------

/** The first ```sh block of a `## <heading>` section, its `\` continuations joined, as words. */
export function docsCommand(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`docs/install.md has no section "## ${heading}"`);
  const section = markdown.slice(start + 1).split(/\n## /)[0]!;
  const block = /```sh\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error(`"## ${heading}" has no sh block`);
  const words = block[1]!.replace(/\\\n/g, ' ').trim().split(/\s+/);
  if (words.some((w) => /["'$`]/.test(w)))
    throw new Error(`the "## ${heading}" block quotes or expands something: the test reads plain words only`);
  return words;
}

export interface ContainerRun {
  /** `docker` arguments: run ... <image> <command...> */
  args: string[];
  name: string;
  image: string;
  /** The host side of each `-v`, as the docs name it, and the test's folder for it. */
  mounts: Array<{ docs: string; host: string; target: string }>;
  envFile: string;
}

/** The docs' `docker run` with its host paths replaced (longest prefix first); an unknown one is an error. */
export function adaptDockerRun(words: string[], hostPaths: Record<string, string>): ContainerRun {
  if (words[0] !== 'docker' || words[1] !== 'run') throw new Error(`expected "docker run ...", got "${words.slice(0, 2).join(' ')}"`);
  const prefixes = Object.keys(hostPaths).sort((a, b) => b.length - a.length);
  const mapPath = (p: string) => {
    const pre = prefixes.find((x) => p === x || p.startsWith(`${x}/`));
    if (pre === undefined) throw new Error(`docs/install.md's docker run uses ${p}: the test has no folder for it`);
    return hostPaths[pre]! + p.slice(pre.length);
  };
  const args: string[] = ['run'];
  const mounts: ContainerRun['mounts'] = [];
  let name = '';
  let image = '';
  let envFile = '';
  for (let i = 2; i < words.length; i++) {
    const w = words[i]!;
    if (image) {
      args.push(w);
      continue;
    }
    if (w === '-v' || w === '--volume') {
      const [src, target, ...mode] = words[++i]!.split(':');
      const host = mapPath(src!);
      mounts.push({ docs: src!, host, target: target! });
      args.push(w, [host, target, ...mode].join(':'));
    } else if (w === '--env-file') {
      envFile = mapPath(words[++i]!);
      args.push(w, envFile);
    } else if (w === '--name') {
      name = words[++i]!;
      args.push(w, name);
    } else if (w.startsWith('-')) {
      args.push(w);
      // Options with a value (the docs use no --opt=value form).
      if (['--restart', '--network', '--log-driver', '--log-opt', '-e', '--env', '--health-interval'].includes(w)) args.push(words[++i]!);
    } else {
      image = w;
      args.push(w);
    }
  }
  if (!image || !name || !envFile) throw new Error(`docs/install.md's docker run names no image, --name or --env-file: ${words.join(' ')}`);
  return { args, name, image, mounts, envFile };
}

// ---- small helpers ---------------------------------------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
  });
}

/** The build context: what .dockerignore lets through (an allow-list), plus the optional CA file. */
function buildContext(dest: string, ca: string | undefined): void {
  mkdirSync(dest, { recursive: true });
  const allowed = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('!'))
    .map((l) => l.slice(1));
  for (const entry of ['Dockerfile', '.dockerignore', ...allowed]) {
    const from = path.join(REPO_ROOT, entry);
    if (existsSync(from)) cpSync(from, path.join(dest, entry), { recursive: true });
  }
  if (ca) writeFileSync(path.join(dest, 'build-ca.pem'), ca);
}

/** Does Node.js reach the npm registry without this host's extra CA file? (false: a TLS-intercepting proxy) */
async function registryTrustedWithoutExtraCa(): Promise<boolean> {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const r = await run(
    process.execPath,
    ['-e', "fetch('https://registry.npmjs.org/',{signal:AbortSignal.timeout(15000)}).then(()=>process.exit(0),()=>process.exit(1))"],
    { env, timeoutMs: 30_000 },
  );
  return r.code === 0;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface Health {
  Status: string;
  Log?: Array<{ Start: string; End: string; ExitCode: number; Output: string }>;
}

// ---- the suite -------------------------------------------------------------------------------------

const tools = await ensureE2eTools();
const optOut = !isCI() && ['0', 'false', 'no'].includes((process.env.PXA_E2E_IMAGE ?? '').trim().toLowerCase());

if (!tools.ok && isCI()) {
  describe(TITLE, () => {
    it('can run on this CI machine', () => {
      throw new Error(`CI=true, but the docker end-to-end suites cannot run here: ${tools.reason}`);
    });
  });
} else if (!tools.ok || optOut) {
  const reason = tools.ok ? 'PXA_E2E_IMAGE=0' : tools.reason;
  console.warn(`\n*** ${TITLE}: SKIPPED — ${reason} ***\n`);
  describe.skip(`${TITLE} — SKIPPED: ${reason}`, () => {
    it.skip(`skipped because ${reason}`, () => {});
  });
} else {
  let dir: string;
  let host: ImageHost | undefined;
  let pki: TestPki | undefined;
  let dcos: DcosDouble | undefined;
  let pxd: PxdDouble | undefined;
  let token: string;
  let bases: BaseImages;
  let container: ContainerRun;
  let adminPort: number;
  let mountsRoot: string;
  let buildCa: string | undefined;
  const outputs: RunResult[] = [];
  const figures: Record<string, string> = {};
  let runAt = 0;
  let stopped = false;

  const docker = () => {
    if (!host?.docker) throw new Error('dockerd did not start');
    return host.docker;
  };
  async function dk(args: string[], timeoutMs?: number): Promise<RunResult> {
    const r = await docker().cli(args, { timeoutMs });
    outputs.push(r);
    return r;
  }
  async function dkOk(args: string[], timeoutMs?: number): Promise<RunResult> {
    const r = await dk(args, timeoutMs);
    expect(r.code, `${r.cmd}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
    return r;
  }
  /** `docker build` with the legacy builder, as the Dockerfile's header says. */
  function build(context: string, tag: string): Promise<RunResult> {
    return run(
      docker().tools.docker,
      [
        '-H',
        `unix://${docker().socket}`,
        'build',
        '--network',
        'host',
        '--build-arg',
        `BASE_IMAGE=${bases.base}`,
        '--build-arg',
        `RUNTIME_BASE_IMAGE=${bases.runtimeBase}`,
        '-t',
        tag,
        context,
      ],
      { env: { ...docker().cliEnv(), DOCKER_BUILDKIT: '0' }, timeoutMs: 600_000 },
    );
  }
  const socket = () => path.join(host!.pluginDir, `${PLUGIN_NAME}.sock`);
  const inspect = async <T>(format: string): Promise<T> =>
    JSON.parse((await dkOk(['inspect', '--format', `{{json ${format}}}`, container.name])).stdout) as T;
  const logs = async () => {
    const r = await docker().cli(['logs', container.name]);
    return r.stdout + r.stderr;
  };

  describe.sequential(TITLE, () => {
    beforeAll(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-e2e-image-'));
      host = new ImageHost(dir, tools);
      await host.start();
      const defaults = dockerfileArgDefaults(path.join(REPO_ROOT, 'Dockerfile'));
      bases = await provideBaseImages(docker(), {
        base: defaults.BASE_IMAGE ?? 'node:20-bookworm-slim',
        runtimeBase: defaults.RUNTIME_BASE_IMAGE ?? 'debian:bookworm-slim',
      });
      console.log(`[e2e image] base images: ${bases.description} (${secs(bases.ms)}); dockerd storage: ${host.storageDriver}`);
      for (const n of [...host.notes, ...bases.notes, ...tools.notes]) console.log(`[e2e image] note: ${n}`);

      // The docs' command first: its image name is the tag to build.
      container = adaptDockerRun(docsCommand(readFileSync(path.join(REPO_ROOT, 'docs', 'install.md'), 'utf8'), 'docker run'), {
        // The namespace's /run/docker/plugins is the test's plugin folder (image-host.ts).
        '/run/docker/plugins': '/run/docker/plugins',
        '/var/lib/pxd-auth-proxy': path.join(dir, 'state'),
        '/etc/pxd-auth-proxy': path.join(dir, 'etc'),
        '/run/dcos/pki/CA': path.join(dir, 'pki'),
      });

      // This host's extra CA (its TLS-intercepting proxy), for the build stage only.
      const caFile = process.env.NODE_EXTRA_CA_CERTS;
      buildCa = caFile && existsSync(caFile) ? readFileSync(caFile, 'utf8') : undefined;
      buildContext(path.join(dir, 'context'), buildCa);
      const t0 = Date.now();
      const b = await build(path.join(dir, 'context'), container.image);
      writeFileSync(path.join(dir, 'build.log'), b.stdout + b.stderr);
      if (b.code !== 0)
        throw new Error(`docker build failed (exit ${b.code}):\n${(b.stdout + b.stderr).split('\n').slice(-30).join('\n')}`);
      figures.build = secs(Date.now() - t0);
      console.log(`[e2e image] docker build: ${figures.build}${buildCa ? ` (with ${caFile} as build-ca.pem)` : ''}`);
      await buildBusyboxImage(docker(), tools.busybox, path.join(dir, 'busybox'));

      // Backends: DC/OS (the env file's service account) and pxd on the plugin folder's pxd.sock.
      token = await signHs256(SHARED_SECRET, userClaims('user1'));
      pki = makeTestPki();
      const sa = makeRsaKeyPair();
      dcos = await startDcosDouble({
        tls: { serverKeyPem: pki.serverKeyPem, serverCertPem: pki.serverCertPem, ca: pki.ca },
        serviceAccounts: { [SA_UID]: sa.publicKeyPem },
        grants: { [SA_UID]: ['dcos:secrets:default:/pwx/secrets/* read', `dcos:secrets:default:/${REFERENCES}/* full`] },
        secrets: { [SECRET]: token + '\n' },
      });
      mountsRoot = path.join(dir, 'mounts');
      mkdirSync(mountsRoot, { recursive: true });
      pxd = await startPxdDouble({
        socketPath: path.join(host.pluginDir, 'pxd.sock'),
        auth: { issuers: [{ name: 'portworx.com', sharedSecret: SHARED_SECRET }] },
        mountsRoot,
        makeMountDirs: true,
        defaultSize: '1G',
      });

      // /etc/pxd-auth-proxy as install step 3 makes it: the two examples, the key, the shared secret.
      const etc = path.join(dir, 'etc');
      mkdirSync(etc, { recursive: true, mode: 0o755 });
      mkdirSync(path.join(dir, 'state'), { recursive: true });
      mkdirSync(path.join(dir, 'pki'), { recursive: true });
      writeFileSync(path.join(dir, 'pki', 'ca-bundle.crt'), pki.ca.certPem);
      writeFileSync(path.join(etc, 'pxd-auth-proxy.yaml'), readFileSync(path.join(REPO_ROOT, 'plugin', 'pxd-auth-proxy.yaml')));
      writeFileSync(path.join(etc, 'private-key.pem'), sa.pkcs8Pem, { mode: 0o600 });
      writeFileSync(path.join(etc, 'shared-secret'), SHARED_SECRET, { mode: 0o600 });
      adminPort = await freePort();
      // The operator's edits of the env file: where DC/OS is; here also pxd's mounts folder and, as the
      // docs say to change it, the admin listener (a free port: the host network is shared with other suites).
      writeFileSync(
        container.envFile,
        readFileSync(path.join(REPO_ROOT, 'plugin', 'pxd-auth-proxy.env'), 'utf8') +
          `DCOS_CLUSTER_URL=${dcos.url}\nPXD_AUTH_MOUNTS_ROOT=${mountsRoot}\nPXD_AUTH_ADMIN_LISTEN=127.0.0.1:${adminPort}\n`,
        { mode: 0o600 },
      );
      chmodSync(container.envFile, 0o600);
    }, 900_000);

    afterAll(async () => {
      const cleanup = new Cleanup('e2e image');
      const step = cleanup.step.bind(cleanup);
      const pids = host?.docker ? [...host.docker.pids] : [];
      if (host?.docker?.daemon?.running && container) await step('remove the container', () => docker().cli(['rm', '-f', container.name]));
      await step('stop dockerd and its namespace', () => host?.stop());
      await step('stop the pxd double', () => pxd?.close());
      await step('stop the DC/OS double', () => dcos?.close());
      await step('pki', () => pki?.cleanup());
      cleanup.alive([...pids, ...(host?.docker?.pids ?? [])], 'dockerd or its containerd');
      await cleanup.finish(dir, 'temp dir (data root included)');
      if (Object.keys(figures).length) {
        console.log(
          `[e2e image] figures (bench/README.md, "The image"): ${Object.entries(figures)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
        );
      }
    }, 120_000);

    it('runs with the docs’ docker run: the plugin socket appears in the agent’s /run/docker/plugins', () => {
      // The docs' command: the host network and the plugin folder are what make it a plugin of this dockerd.
      const a = container.args.join(' ');
      expect(a).toMatch(/--network host/);
      expect(container.mounts.map((m) => m.docs)).toEqual(
        expect.arrayContaining(['/run/docker/plugins', '/var/lib/pxd-auth-proxy', '/etc/pxd-auth-proxy']),
      );
      expect(container.mounts.find((m) => m.docs === '/run/docker/plugins')?.target).toBe('/run/docker/plugins');
      expect(existsSync(socket())).toBe(false);
    });

    it('the container serves: docker run -d, then its socket answers', async () => {
      runAt = Date.now();
      await dkOk(container.args);
      const deadline = Date.now() + 30_000;
      while (!(existsSync(socket()) && (await socketAnswers(socket())))) {
        if (Date.now() > deadline) throw new Error(`no socket after 30 s; the container's log:\n${await logs()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      figures['docker run to socket'] = secs(Date.now() - runAt);
      expect(statSync(socket()).mode & 0o777).toBe(0o660);
    }, 60_000);

    it('builds a runtime with node alone: no npm, only the bundle’s externals, no build CA', async () => {
      const size = Number((await dkOk(['image', 'inspect', '--format', '{{.Size}}', container.image])).stdout.trim());
      figures['image size'] = mb(size);
      const history = (await dkOk(['history', '--format', '{{.Size}}\t{{.CreatedBy}}', container.image])).stdout;
      console.log(`[e2e image] ${container.image}: ${mb(size)}; layers:\n  ${history.trim().split('\n').join('\n  ').slice(0, 2000)}`);
      expect(size).toBeGreaterThan(50e6);
      expect(size).toBeLessThan(260e6);

      const sh = (script: string) =>
        dkOk(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', container.image, '-c', script]).then((r) => r.stdout.trim());
      // No package manager at all (not merely hidden by a later layer: the base is Debian, not node).
      expect(
        await sh('for c in npm npx yarn corepack; do command -v $c || true; done; ls /usr/local/lib/node_modules 2>/dev/null || true'),
      ).toBe('');
      // The bundle's externals (scripts/bundle.mjs) load; bundled packages are not copied again.
      const externals = JSON.parse(readFileSync(path.join(REPO_ROOT, 'dist', 'bin', 'externals.json'), 'utf8')) as string[];
      expect(externals).toContain('pino');
      const load = externals.map((x) => `await import('${x}');`).join('');
      await dkOk(['run', '--rm', '--network', 'none', '--entrypoint', 'node', container.image, '--input-type=module', '-e', load]);
      const modules = (await sh('ls /app/node_modules')).split('\n');
      for (const x of externals) expect(modules).toContain(x.split('/')[0]);
      for (const bundled of ['express', 'undici', 'zod', 'jose', 'commander', 'typescript', 'vitest'])
        expect(modules).not.toContain(bundled);
      // The build host's CA stayed in the build stage.
      const env = await inspectImageEnv(container.image);
      expect(env.some((e) => e.startsWith('NODE_EXTRA_CA_CERTS='))).toBe(false);
      expect(await sh('ls /src 2>/dev/null; find / -xdev -name build-ca.pem 2>/dev/null')).toBe('');
      // The HEALTHCHECK and the admin listener it asks are both in the environment.
      expect(env).toContain('PXD_AUTH_ADMIN_LISTEN=127.0.0.1:9102');
    }, 120_000);

    async function inspectImageEnv(image: string): Promise<string[]> {
      return JSON.parse((await dkOk(['image', 'inspect', '--format', '{{json .Config.Env}}', image])).stdout) as string[];
    }

    it('without the CA of this network’s TLS-intercepting proxy, the build fails within seconds and says why', async () => {
      if (!buildCa || (await registryTrustedWithoutExtraCa())) {
        console.log('[e2e image] the npm registry is trusted without an extra CA here: nothing to check');
        return;
      }
      const context = path.join(dir, 'context-no-ca');
      buildContext(context, undefined);
      const t0 = Date.now();
      const r = await build(context, 'pxa-e2e-no-ca:e2e');
      const took = Date.now() - t0;
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/cannot reach the npm registry/);
      expect(r.stdout + r.stderr).toMatch(/build-ca\.pem/);
      expect(r.stdout + r.stderr).not.toMatch(/npm error|Exit handler never called/);
      expect(took).toBeLessThan(30_000);
      figures['failed build without the CA'] = secs(took);
    }, 120_000);

    it('docker volume create -d pxd-auth goes through the containerised proxy to pxd', async () => {
      const r = await dkOk(['volume', 'create', '-d', PLUGIN_NAME, '--name', 'mnt1', '-o', `token_secret=${SECRET}`]);
      expect(r.stdout.trim()).toBe('mnt1');
      expect(pxd!.volumes.get('mnt1')?.owner).toBe('id/user1');
      expect(pxd!.lastToken('Create')).toBe(token);
      // The reference is recorded in DC/OS (the YAML example's referencesPath), never the token.
      expect(dcos!.secret(`${REFERENCES}/mnt1`)).toContain(SECRET);
    }, 60_000);

    it('docker run -v mounts it through the proxy', async () => {
      await dkOk(['run', '--rm', '--network', 'none', '-v', 'mnt1:/data', BUSYBOX, 'sh', '-c', 'echo hello > /data/f']);
      expect(pxd!.lastToken('Mount')).toBe(token);
      const written = readdirSync(mountsRoot).filter((d) => d.startsWith('mnt1') && existsSync(path.join(mountsRoot, d, 'f')));
      expect(written.length).toBe(1);
      expect(readFileSync(path.join(mountsRoot, written[0]!, 'f'), 'utf8')).toBe('hello\n');
    }, 60_000);

    it('docker volume rm removes it at pxd', async () => {
      await dkOk(['volume', 'rm', 'mnt1']);
      expect(pxd!.volumes.has('mnt1')).toBe(false);
      expect(pxd!.lastToken('Remove')).toBe(token);
      expect(dcos!.secret(`${REFERENCES}/mnt1`)).toBeUndefined();
    }, 60_000);

    it('the HEALTHCHECK turns healthy, asking the admin listener the env file moved', async () => {
      const deadline = Date.now() + 90_000;
      let health: Health;
      for (;;) {
        health = await inspect<Health>('.State.Health');
        if (health.Status === 'healthy') break;
        if (health.Status === 'unhealthy' || Date.now() > deadline) {
          throw new Error(`health ${health.Status}: ${JSON.stringify(health.Log)}\nthe container's log:\n${await logs()}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      const started = Date.parse(await inspect<string>('.State.StartedAt'));
      const firstOk = health.Log!.find((l) => l.ExitCode === 0)!;
      figures['start to healthy'] = secs(Date.parse(firstOk.End) - started);
      figures['one health check'] = secs(Date.parse(firstOk.End) - Date.parse(firstOk.Start));
      expect(firstOk.Output).toContain(`GET /healthz on 127.0.0.1:${adminPort} (from PXD_AUTH_ADMIN_LISTEN): 200`);
      // The admin listener is where the env file put it, not the image's default.
      const r = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
      expect(r.status).toBe(200);
    }, 120_000);

    it('docker stop drains it: exit code 0, socket removed', async () => {
      const t0 = Date.now();
      const r = await dk(['stop', container.name], 60_000);
      figures['docker stop'] = secs(Date.now() - t0);
      stopped = true;
      expect(r.code, r.stderr).toBe(0);
      expect(await inspect<number>('.State.ExitCode')).toBe(0);
      expect(existsSync(socket())).toBe(false);
      const log = await logs();
      expect(log).toMatch(/"signal":"SIGTERM".*stopping: no new requests, finishing those in flight/);
      expect(log).toMatch(/"msg":"stopped"/);
    }, 90_000);

    it('leaves no token in docker output, dockerd’s log or the container’s log', async () => {
      expect(stopped).toBe(true);
      const texts = [...outputs.map((o) => o.stdout + o.stderr), docker().log(), await logs()];
      const signature = token.split('.')[2]!;
      for (const t of texts) {
        expect(t).not.toContain(token);
        expect(t).not.toContain(signature);
        expect(t).not.toContain(SHARED_SECRET);
        for (const issued of dcos!.issuedTokens()) expect(t).not.toContain(issued);
      }
    });
  });
}
