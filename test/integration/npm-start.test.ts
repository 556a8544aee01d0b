/**
 * `npm start` as a user runs it: npm runs the script through `sh -c`. Stopped with SIGTERM sent to npm
 * (a service manager, `timeout`, `kill <npm's pid>`), the proxy must stop too and take its socket with
 * it; before `exec` in the script, node was left running, orphaned, holding the socket.
 *
 * It runs in a temp folder holding the repository's package.json (the real scripts) with dist/ and
 * node_modules/ linked, so the embedded setup (.pxd-auth) and HOME are temporary; dockerd's plugin
 * folder is moved to the temp folder too (PXD_AUTH_DOCKER_PLUGIN_DIR).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProxyProcess } from '../helpers/proxy-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-npm-start-'));
const started = new Set<number>();

afterAll(() => {
  for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Processes whose working directory is `cwd` (the proxies npm started there). */
function processesIn(cwd: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) !== cwd) continue;
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.endsWith('pxd-auth-proxy.js'))) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** A folder that `npm start` treats as the package: the real package.json, the built program linked in. */
function packageFolder(name: string): string {
  const pkg = path.join(dir, name);
  mkdirSync(pkg);
  copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
  symlinkSync(path.join(ROOT, 'dist'), path.join(pkg, 'dist'));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
  mkdirSync(path.join(pkg, 'plugins'));
  return pkg;
}

describe('npm start', () => {
  it('stops the proxy and removes its socket when npm gets SIGTERM', async () => {
    expect(existsSync(path.join(ROOT, 'dist/bin/pxd-auth-proxy.js')), 'npm run build first').toBe(true);
    const pkg = packageFolder('term');
    const npm = spawn('npm', ['start'], {
      cwd: pkg,
      env: {
        PATH: process.env.PATH,
        HOME: pkg,
        npm_config_update_notifier: 'false',
        npm_config_fund: 'false',
        PXD_AUTH_DOCKER_PLUGIN_DIR: path.join(pkg, 'plugins'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.add(npm.pid!);
    let out = '';
    npm.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    npm.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const npmExited = new Promise<void>((r) => npm.once('exit', () => r()));

    const socket = path.join(pkg, '.pxd-auth', 'pxd-auth.sock');
    expect(await until(() => out.includes('Stop with Ctrl-C') && existsSync(socket), 20_000), out).toBe(true);
    const proxies = processesIn(pkg);
    expect(proxies.length, out).toBe(1);
    for (const pid of proxies) started.add(pid);

    process.kill(npm.pid!, 'SIGTERM');
    await npmExited;
    expect(
      await until(() => proxies.every((pid) => !alive(pid)), 10_000),
      `still running: ${proxies.filter(alive).join(', ')}\n${out}`,
    ).toBe(true);
    expect(await until(() => !existsSync(socket), 2_000)).toBe(true);
    expect(out).toMatch(/"msg":"stopped"/);
  }, 40_000);
});

describe('the embedded proxy on stop', () => {
  it("removes the banner's link from the plugin folder if it points at its socket", async () => {
    const pkg = packageFolder('link');
    const plugins = path.join(pkg, 'plugins');
    const proc = startProxyProcess(['serve', '--embedded'], { PXD_AUTH_DOCKER_PLUGIN_DIR: plugins }, { cwd: pkg });
    if (proc.child.pid) started.add(proc.child.pid);
    await proc.waitFor(/Stop with Ctrl-C/, 15_000);
    const line = proc.lines.find((l) => l.includes('ln -sf'))!;
    const [, target, link] = /ln -sf (\S+) (\S+)/.exec(line)!;
    expect(link).toBe(path.join(plugins, 'pxd-auth.sock'));
    symlinkSync(target!, link!); // as the user would, following the banner
    expect(await proc.stop('SIGTERM')).toBe(0);
    expect(exists(link!)).toBe(false);
  }, 30_000);

  it('leaves a link to another socket alone', async () => {
    const pkg = packageFolder('other-link');
    const plugins = path.join(pkg, 'plugins');
    const link = path.join(plugins, 'pxd-auth.sock');
    symlinkSync('/elsewhere/pxd-auth.sock', link);
    const proc = startProxyProcess(['serve', '--embedded'], { PXD_AUTH_DOCKER_PLUGIN_DIR: plugins }, { cwd: pkg });
    if (proc.child.pid) started.add(proc.child.pid);
    await proc.waitFor(/Stop with Ctrl-C/, 15_000);
    expect(await proc.stop('SIGTERM')).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  }, 30_000);
});
