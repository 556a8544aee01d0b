/**
 * `pxd-auth-proxy healthcheck` (the image's HEALTHCHECK): it finds the admin listener as `serve` does
 * (flag, then environment, then the YAML file) and exits 0 only when /healthz answers 200, on host:port
 * or a unix: socket.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { resolveAdminTarget, runHealthcheck } from '../../src/cli/healthcheck.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-healthcheck-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A stand-in admin listener: /healthz answers `status` (or never, for `hang`). */
async function listen(at: number | string, status: number | 'hang' = 200, host = '127.0.0.1'): Promise<http.Server> {
  const s = http.createServer((req, res) => {
    if (status === 'hang') return;
    res.writeHead(req.url === '/healthz' ? status : 404).end('{}');
  });
  servers.push(s);
  await new Promise<void>((resolve) => (typeof at === 'string' ? s.listen(at, resolve) : s.listen(at, host, resolve)));
  return s;
}
const portOf = (s: http.Server) => (s.address() as AddressInfo).port;

async function check(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, timeoutMs = 2_000) {
  const lines: string[] = [];
  const code = await runHealthcheck(flags, { env, cwd: dir, timeoutMs, out: (l) => lines.push(l) });
  return { code, out: lines.join('\n') };
}

describe('healthcheck: where the admin listener is', () => {
  it('takes --admin-listen over PXD_AUTH_ADMIN_LISTEN over the YAML file named by PXD_AUTH_CONFIG', () => {
    const file = path.join(dir, 'a.yaml');
    writeFileSync(file, 'adminListen: 127.0.0.1:9300\nsocket: /run/docker/plugins/pxd-auth.sock\n');
    const env = { PXD_AUTH_CONFIG: file, PXD_AUTH_ADMIN_LISTEN: '127.0.0.1:9200' };
    expect(resolveAdminTarget({ adminListen: '127.0.0.1:9100' }, env, dir).target).toMatchObject({
      addr: '127.0.0.1:9100',
      from: '--admin-listen',
    });
    expect(resolveAdminTarget({}, env, dir).target).toMatchObject({ addr: '127.0.0.1:9200', from: 'PXD_AUTH_ADMIN_LISTEN' });
    expect(resolveAdminTarget({}, { PXD_AUTH_CONFIG: file }, dir).target).toMatchObject({
      addr: '127.0.0.1:9300',
      from: `${file}: adminListen`,
      connect: { host: '127.0.0.1', port: 9300 },
    });
    // --config names the file too, relative to the working folder.
    expect(resolveAdminTarget({ config: 'a.yaml' }, {}, dir).target?.addr).toBe('127.0.0.1:9300');
  });

  it('reaches a wildcard or empty host on the loopback, and a unix: path as a socket', () => {
    expect(resolveAdminTarget({ adminListen: '0.0.0.0:9102' }, {}, dir).target?.connect).toEqual({ host: '127.0.0.1', port: 9102 });
    expect(resolveAdminTarget({ adminListen: ':9102' }, {}, dir).target?.connect).toEqual({ host: '127.0.0.1', port: 9102 });
    expect(resolveAdminTarget({ adminListen: 'localhost:9102' }, {}, dir).target?.connect).toEqual({ host: 'localhost', port: 9102 });
    expect(resolveAdminTarget({ adminListen: 'unix:/run/pxa/admin.sock' }, {}, dir).target?.connect).toEqual({
      socketPath: '/run/pxa/admin.sock',
    });
  });

  it('says what is wrong: no listener, a value serve refuses, a file it cannot read', async () => {
    expect(resolveAdminTarget({}, {}, dir).problems.join()).toMatch(/no admin listener is configured/);
    const noFileListener = path.join(dir, 'b.yaml');
    writeFileSync(noFileListener, 'logLevel: info\n');
    expect(resolveAdminTarget({}, { PXD_AUTH_CONFIG: noFileListener }, dir).problems.join()).toMatch(/no admin listener/);
    expect(resolveAdminTarget({}, { PXD_AUTH_ADMIN_LISTEN: 'nowhere' }, dir).problems).toEqual([
      'PXD_AUTH_ADMIN_LISTEN: "nowhere" is neither host:port nor unix:<path>',
    ]);
    expect(resolveAdminTarget({}, { PXD_AUTH_CONFIG: path.join(dir, 'missing.yaml') }, dir).problems.join()).toMatch(
      /^PXD_AUTH_CONFIG: cannot read the file .*missing\.yaml \(ENOENT\)$/,
    );
    const broken = path.join(dir, 'broken.yaml');
    writeFileSync(broken, 'adminListen: [unclosed\n');
    expect(resolveAdminTarget({ config: broken }, {}, dir).problems.join()).toMatch(/^--config: .*broken\.yaml is not valid YAML \(/);
    const { code, out } = await check({});
    expect(code).toBe(1);
    expect(out).toMatch(/^unhealthy: no admin listener is configured/);
  });
});

describe('healthcheck: asking /healthz', () => {
  it('exits 0 when /healthz answers 200 on host:port, naming where the address came from', async () => {
    const s = await listen(0);
    const r = await check({}, { PXD_AUTH_ADMIN_LISTEN: `127.0.0.1:${portOf(s)}` });
    expect(r).toEqual({ code: 0, out: `healthy: GET /healthz on 127.0.0.1:${portOf(s)} (from PXD_AUTH_ADMIN_LISTEN): 200` });
  });

  it('exits 0 on a unix: socket, and a wildcard listener is asked on the loopback', async () => {
    const sock = path.join(dir, 'admin.sock');
    await listen(sock);
    expect((await check({ adminListen: `unix:${sock}` })).code).toBe(0);
    const s = await listen(0, 200, '0.0.0.0');
    expect((await check({ adminListen: `0.0.0.0:${portOf(s)}` })).code).toBe(0);
  });

  it('exits 1 on another status, a refused connection or no answer in time', async () => {
    const failing = await listen(0, 503);
    const r503 = await check({ adminListen: `127.0.0.1:${portOf(failing)}` });
    expect(r503).toEqual({ code: 1, out: `unhealthy: GET /healthz on 127.0.0.1:${portOf(failing)} (from --admin-listen): 503` });

    const gone = await listen(0);
    const port = portOf(gone);
    await new Promise((r) => gone.close(r));
    const refused = await check({ adminListen: `127.0.0.1:${port}` });
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/ECONNREFUSED/);

    const missing = await check({ adminListen: `unix:${path.join(dir, 'nobody.sock')}` });
    expect(missing.code).toBe(1);
    expect(missing.out).toMatch(/ENOENT/);

    const hang = await listen(0, 'hang');
    const slow = await check({ adminListen: `127.0.0.1:${portOf(hang)}` }, {}, 200);
    expect(slow.code).toBe(1);
    expect(slow.out).toMatch(/no answer within 200 ms/);
    hang.closeAllConnections();
  });
});
