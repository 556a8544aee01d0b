/**
 * The package as docs/install.md installs it on a systemd agent: `npm pack`, then `npm install -g` of the
 * tarball. The install must be clean (npm 11 warns about any install-time script of the package, and
 * `prepare` was one: the build now runs at `prepack`), and the installed program must run.
 *
 * The tarball is packed from a temp copy of the package's files with the built dist/ (no second build
 * in the shared checkout), and installed under a temp --prefix, never the global one. Dependencies come
 * from npm's cache or the registry. Then `npm uninstall -g`, as "Removing it" does.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pkgJson = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  files: string[];
  scripts: Record<string, string>;
};
const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-packed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const npmEnv = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };

describe('package.json scripts', () => {
  it('run nothing at install time; the build runs at pack, and at start only when dist/ is missing', () => {
    for (const s of ['preinstall', 'install', 'postinstall', 'prepare', 'preprepare', 'postprepare'])
      expect(pkgJson.scripts[s], s).toBeUndefined();
    expect(pkgJson.scripts.prepack).toBe('npm run build');
    expect(pkgJson.scripts.prestart).toMatch(/^test -f dist\/bin\/pxd-auth-proxy\.js \|\| npm run build$/);
    // npm runs the script with sh -c: exec makes node npm's child, so npm's SIGTERM reaches it.
    expect(pkgJson.scripts.start).toMatch(/^exec node dist\/bin\/pxd-auth-proxy\.js serve --embedded$/);
  });
});

describe('npm install -g of the packed tarball', () => {
  it('installs without a warning about scripts, and the program runs', () => {
    expect(existsSync(path.join(ROOT, 'dist/bin/pxd-auth-proxy.js')), 'npm run build first').toBe(true);
    const src = path.join(dir, 'src');
    mkdirSync(src);
    for (const f of ['package.json', 'README.md', ...pkgJson.files]) cpSync(path.join(ROOT, f), path.join(src, f), { recursive: true });

    // --ignore-scripts: prepack would build again; dist/ is the checkout's, built already.
    const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: src, env: npmEnv, encoding: 'utf8' });
    expect(pack.status, pack.stderr).toBe(0);
    const tgz = path.join(dir, `${pkgJson.name}-${pkgJson.version}.tgz`);
    expect(existsSync(tgz)).toBe(true);
    const listing = spawnSync('tar', ['-tzf', tgz], { encoding: 'utf8' }).stdout;
    expect(listing).toContain('package/dist/bin/pxd-auth-proxy.js');
    expect(listing).toContain('package/plugin/systemd/pxd-auth-proxy.service');

    const prefix = path.join(dir, 'prefix');
    const install = spawnSync('npm', ['install', '-g', '--omit=dev', '--prefer-offline', '--prefix', prefix, tgz], {
      cwd: dir,
      env: npmEnv,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(install.status, install.stderr).toBe(0);
    expect(install.stderr).not.toMatch(/prepare|install-scripts|allow-scripts/i);
    expect(install.stderr.split('\n').filter((l) => /^npm warn/i.test(l))).toEqual([]);

    const bin = path.join(prefix, 'bin', 'pxd-auth-proxy');
    const version = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(pkgJson.version);
    const help = spawnSync(bin, ['--help'], { encoding: 'utf8' });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/serve/);
    // The installed copy ships the examples docs/install.md copies from.
    expect(readdirSync(path.join(prefix, 'lib', 'node_modules', pkgJson.name, 'plugin'))).toContain('pxd-auth-proxy.env');

    // docs/install.md "Removing it": npm uninstall -g takes the program and its folder away.
    const uninstall = spawnSync('npm', ['uninstall', '-g', '--prefix', prefix, pkgJson.name], { cwd: dir, env: npmEnv, encoding: 'utf8' });
    expect(uninstall.status, uninstall.stderr).toBe(0);
    expect(existsSync(bin)).toBe(false);
    expect(existsSync(path.join(prefix, 'lib', 'node_modules', pkgJson.name))).toBe(false);
  }, 150_000);
});
