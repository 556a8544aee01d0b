/**
 * `pxd-auth-proxy healthcheck`: is the proxy on this host serving? Asks the admin listener's /healthz
 * and exits 0 (it answered 200) or 1 (anything else). The image's HEALTHCHECK runs it.
 *
 * The listener's address is found as `serve` finds it: --admin-listen, then PXD_AUTH_ADMIN_LISTEN, then
 * `adminListen` of the YAML file that --config or PXD_AUTH_CONFIG names. A container's health check
 * sees the container's environment but not the command's arguments: in the image the address is set
 * with the environment variable (the Dockerfile's ENV), so both read the same value.
 *
 * Deliberately small: no full configuration load (keys, DC/OS login) every few seconds, and no output
 * other than one line on what was asked and what answered.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Issues, peekOption, readSettings } from '../config/settings.js';

export interface AdminTarget {
  /** The address as configured: host:port or unix:<path>. */
  addr: string;
  /** Where it came from: `--admin-listen`, `PXD_AUTH_ADMIN_LISTEN`, `<file>: adminListen`. */
  from: string;
  /** How to connect: a unix socket, or host and port (a wildcard host is reached on the loopback). */
  connect: { socketPath: string } | { host: string; port: number };
}

/**
 * The admin listener `serve` would open with these flags and this environment, or the problems that
 * prevent knowing it (a file that cannot be read, a value `serve` would refuse, no listener at all).
 */
export function resolveAdminTarget(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): { target?: AdminTarget; problems: string[] } {
  const issues = new Issues();
  const configOption = peekOption('config', { flags, env });
  let file: { name: string; values: Map<string, unknown> } | undefined;
  if (configOption?.value) {
    const name = configOption.value;
    let text: string | undefined;
    try {
      text = readFileSync(path.resolve(cwd, name), 'utf8');
    } catch (e) {
      issues.add(configOption.from, `cannot read the file ${name} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    try {
      const doc = text === undefined ? undefined : (parseYaml(text) as unknown);
      const values = new Map<string, unknown>();
      if (doc !== null && typeof doc === 'object' && !Array.isArray(doc) && 'adminListen' in doc) {
        values.set('adminListen', (doc as Record<string, unknown>).adminListen);
      }
      file = { name, values };
    } catch (e) {
      issues.add(configOption.from, `${name} is not valid YAML (${(e as Error).message.split('\n')[0]})`);
    }
  }
  const s = readSettings({ flags, env, file }, issues, (o) => o.key === 'adminListen');
  if (issues.list.length) return { problems: issues.texts };
  const addr = s.values.adminListen;
  if (addr === undefined) {
    return {
      problems: [
        'no admin listener is configured (--admin-listen, PXD_AUTH_ADMIN_LISTEN or adminListen in the YAML file): there is no /healthz to ask',
      ],
    };
  }
  return { target: { addr, from: s.from('adminListen'), connect: connectTo(addr) }, problems: [] };
}

function connectTo(addr: string): AdminTarget['connect'] {
  if (addr.startsWith('unix:')) return { socketPath: addr.slice('unix:'.length) };
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i);
  // serve listens on 127.0.0.1 for an empty host; a wildcard address is reached on the loopback.
  const loopback = host === '' || host === '0.0.0.0' ? '127.0.0.1' : host === '::' || host === '[::]' ? '::1' : host;
  return { host: loopback, port: Number(addr.slice(i + 1)) };
}

/** GET /healthz: the status code, or the connection's error. */
export function askHealthz(target: AdminTarget, timeoutMs: number): Promise<{ status?: number; error?: string }> {
  return new Promise((resolve) => {
    const req = http.request({ ...target.connect, path: '/healthz', method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode }));
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ? `${e.code}: ${e.message}` : e.message }));
    req.end();
  });
}

/** The command: one line on stdout (dockerd keeps it in the container's health log), exit code 0 or 1. */
export async function runHealthcheck(
  flags: Record<string, unknown>,
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; out?: (line: string) => void } = {},
): Promise<number> {
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const { target, problems } = resolveAdminTarget(flags, opts.env ?? process.env, opts.cwd ?? process.cwd());
  if (!target) {
    out(`unhealthy: ${problems.join('; ')}`);
    return 1;
  }
  const r = await askHealthz(target, opts.timeoutMs ?? 3_000);
  const asked = `GET /healthz on ${target.addr} (from ${target.from})`;
  if (r.status === 200) {
    out(`healthy: ${asked}: 200`);
    return 0;
  }
  out(`unhealthy: ${asked}: ${r.status !== undefined ? String(r.status) : r.error}`);
  return 1;
}
