/**
 * The tools' pieces in-process (the CLI suites run the bundle as a child process): doctor's output and
 * its checks without a valid configuration, the weak-secret warning, and a tool's configuration sources.
 */
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatDoctor, runDoctor } from '../../../src/cli/doctor.js';
import { resolveToolConfig, warnOnce } from '../../../src/cli/serve.js';
import { loadConfig } from '../../../src/config/load.js';
import { silentLogger } from '../../../src/audit/logger.js';
import { SHARED_SECRET_MIN_LENGTH, WEAK_SHARED_SECRET_FIX, weakSharedSecret } from '../../../src/tokens/generate.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-cli-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

describe('weakSharedSecret', () => {
  it('has one threshold, 16 characters, and never quotes the secret', () => {
    expect(SHARED_SECRET_MIN_LENGTH).toBe(16);
    expect(weakSharedSecret('x'.repeat(15))).toMatch(/shorter than 16 characters, which is weak/);
    expect(weakSharedSecret('x'.repeat(16))).toBeUndefined();
    expect(weakSharedSecret('')).toBeUndefined(); // empty is refused elsewhere, not weak
    expect(weakSharedSecret('s3cr3t-v4lue')).not.toContain('s3cr3t-v4lue');
  });
});

describe('formatDoctor', () => {
  it('prints ok, WARN and FAIL, a fix under a warning or a failure, and counts both', () => {
    const out = formatDoctor([
      { name: 'a', ok: true, detail: 'fine', fix: 'not shown' },
      { name: 'b', ok: true, warn: true, detail: 'weak', fix: 'make it strong' },
      { name: 'c', ok: false, detail: 'broken', fix: 'repair' },
    ]);
    expect(out.split('\n')).toEqual([
      `ok   ${'a'.padEnd(24)} fine`,
      `WARN ${'b'.padEnd(24)} weak`,
      `     ${''.padEnd(24)} fix: make it strong`,
      `FAIL ${'c'.padEnd(24)} broken`,
      `     ${''.padEnd(24)} fix: repair`,
      '',
      '1 check(s) failed, 1 warning(s)',
      '',
    ]);
    expect(formatDoctor([{ name: 'b', ok: true, warn: true, detail: 'weak' }])).toMatch(/\nall checks passed, 1 warning\(s\)\n$/);
    expect(formatDoctor([{ name: 'a', ok: true, detail: 'fine' }])).toMatch(/\nall checks passed\n$/);
  });
});

describe('runDoctor', () => {
  it('flags a short shared secret as a warning with the fix, not a failure', async () => {
    const { config } = loadConfig({
      flags: {
        secrets: `file:${dir}`,
        jwtIssuer: 'p',
        jwtSharedSecret: 'short-one',
        backend: `local:${dir}`,
        socket: path.join(dir, 's.sock'),
      },
      env: {},
    });
    const checks = await runDoctor({ config, problems: [], pluginDir: dir });
    expect(checks.find((c) => c.name === 'issuer keys')).toEqual({
      name: 'issuer keys',
      ok: true,
      warn: true,
      detail: expect.stringMatching(/^p: shared secret loaded .*, but the shared secret is shorter than 16 characters/),
      fix: WEAK_SHARED_SECRET_FIX,
    });
    expect(JSON.stringify(checks)).not.toContain('short-one');
  });

  it('without a valid configuration, still checks the socket and the backend it can find', async () => {
    const checks = await runDoctor({
      config: undefined,
      problems: ['f.yaml: not valid YAML (...)'],
      pluginDir: dir,
      basics: {
        socket: path.join(dir, 'p.sock'),
        backendUrl: `unix://${path.join(dir, 'absent.sock')}`,
        backend: { kind: 'unix', socketPath: path.join(dir, 'absent.sock') },
        withoutFile: true,
      },
    });
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      ['configuration', false],
      ['plugin socket', true],
      ['discoverable by dockerd', true],
      ['backend', false],
    ]);
    expect(checks[1]!.detail).toMatch(/\(the YAML file could not be used: checked with the flags, environment and defaults\)$/);

    const noBackend = await runDoctor({
      config: undefined,
      problems: ['--backend: "x" is neither'],
      pluginDir: dir,
      basics: { socket: path.join(dir, 'p.sock'), backendUrl: 'x', withoutFile: false },
    });
    expect(noBackend.find((c) => c.name === 'backend')).toEqual({
      name: 'backend',
      ok: true,
      detail: 'not checked: the backend setting itself has a problem (above)',
    });
  });
});

describe('warnOnce', () => {
  it('logs each warning once, with its setting, never twice', () => {
    const logger = silentLogger();
    const warn = vi.spyOn(logger, 'warn');
    const warned = new Set<string>();
    const w = [{ text: 'X: issuer p: weak', option: 'jwtSharedSecret' as const }];
    warnOnce(logger, warned, w);
    warnOnce(logger, warned, w);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith({ setting: 'jwtSharedSecret' }, 'X: issuer p: weak');
  });
});

describe('resolveToolConfig', () => {
  it('reads the installed files, says so on stderr, and needs no secret store for --token', async () => {
    const installed = path.join(dir, 'etc');
    mkdirSync(installed);
    writeFileSync(path.join(installed, 'pxd-auth-proxy.yaml'), 'secrets: dcos\nfleetConfig: pxd-auth-proxy/fleet\n');
    writeFileSync(
      path.join(installed, 'pxd-auth-proxy.env'),
      'PXD_AUTH_JWT_ISSUER=from-env-file\nOPENSTORAGE_AUTH_SHAREDSECRET="a long enough secret, quoted"\n',
    );
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const r = await resolveToolConfig({ installedConfigDir: installed }, 'token check', { secretStore: false });
    expect(r.problems).toEqual([]);
    expect(r.config!.verifier.issuers).toEqual([{ name: 'from-env-file', sharedSecret: 'a long enough secret, quoted' }]);
    expect(stderr).toHaveBeenCalledWith(expect.stringMatching(/^pxd-auth-proxy: using the installed configuration: /));

    // With the store, the same files lack a DC/OS login.
    const full = await resolveToolConfig({ installedConfigDir: installed }, 'doctor');
    expect(full.problems.join('\n')).toMatch(/no DC\/OS login/);
  });

  it('reports an env file it cannot read first, and keeps the basics for doctor', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const missing = path.join(dir, 'missing.env');
    const r = await resolveToolConfig(
      { envFile: missing, jwtIssuer: 'p', jwtSharedSecret: 'x'.repeat(32), secrets: `file:${dir}` },
      'doctor',
    );
    expect(r.config).toBeUndefined();
    expect(r.problems).toEqual([`--env-file ${missing}: cannot read the file (ENOENT)`]);
    expect(r.basics?.socket).toBe('/run/docker/plugins/pxd-auth.sock');
  });
});
