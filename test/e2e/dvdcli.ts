/**
 * A stand-in for Mesos's `dvdcli` (what the Mesos agent runs for every external volume of a UCR
 * container, and what DC/OS uses for `dvdi` volumes), speaking to a volume plugin socket exactly as the
 * real one was observed to (/work/shared/spec/docker-volume-plugin.md, "Observed call sequences"):
 *
 *   mount   = Activate, Get, Create (only if Get failed; `--volumeopts` as Opts), Mount{Name} — no ID
 *   unmount = Activate, Get, Unmount{Name} — no ID
 *   remove  = Activate, Get, Remove
 *   list    = Activate, List
 *
 * No Capabilities call; a fresh connection for every call; `Accept: application/vnd.docker.plugins.v1.2+json`,
 * no Content-Type, an empty Host, JSON bodies with a trailing newline (Go's json.Encoder).
 *
 * As a script, with dvdcli's own flags:
 *   tsx test/e2e/dvdcli.ts mount --volumedriver=pxd-auth --volumename=vol1 --volumeopts=token_secret=pwx/secrets/t [--volumeopts=k=v ...] [--explicitcreate=false]
 *   tsx test/e2e/dvdcli.ts unmount --volumedriver=pxd-auth --volumename=vol1
 * `mount` prints the mountpoint on stdout. Set DVDCLI_TRACE=1 to get each call on stderr as a line
 * `dvdcli-trace {"endpoint":...,"body":...,"status":...,"reply":...}`.
 */
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface DvdcliCall {
  endpoint: string;
  /** The body as sent (parsed back), or null for an empty body. */
  body: unknown;
  status: number;
  reply: unknown;
}

export class DvdcliError extends Error {}

const ACCEPT = 'application/vnd.docker.plugins.v1.2+json';

/** Find a legacy plugin's socket the way Docker's plugin discovery does. */
export function discoverPlugin(driver: string): string {
  const sock = `/run/docker/plugins/${driver}.sock`;
  if (existsSync(sock)) return sock;
  for (const dir of ['/etc/docker/plugins', '/usr/lib/docker/plugins']) {
    const spec = path.join(dir, `${driver}.spec`);
    if (existsSync(spec)) {
      const url = readFileSync(spec, 'utf8').trim();
      if (url.startsWith('unix://')) return url.slice('unix://'.length);
      throw new DvdcliError(`${spec}: only unix:// plugin addresses are supported here, found ${url}`);
    }
    const json = path.join(dir, `${driver}.json`);
    if (existsSync(json)) {
      const addr = (JSON.parse(readFileSync(json, 'utf8')) as { Addr?: string }).Addr ?? '';
      if (addr.startsWith('unix://')) return addr.slice('unix://'.length);
      throw new DvdcliError(`${json}: only unix:// plugin addresses are supported here, found ${addr}`);
    }
  }
  throw new DvdcliError(`plugin not found: ${driver} (no /run/docker/plugins/${driver}.sock and no spec file)`);
}

export class DvdcliClient {
  readonly calls: DvdcliCall[] = [];

  constructor(
    readonly socketPath: string,
    private readonly onCall?: (c: DvdcliCall) => void,
  ) {}

  /** One POST on a fresh connection. */
  call(endpoint: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> | undefined; text: string }> {
    const payload = body === undefined ? '' : JSON.stringify(body) + '\n';
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          method: 'POST',
          path: `/${endpoint}`,
          setHost: false,
          headers: { Host: '', Accept: ACCEPT, 'Content-Length': Buffer.byteLength(payload) },
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: Record<string, unknown> | undefined;
            try {
              const v = JSON.parse(text) as unknown;
              if (v && typeof v === 'object' && !Array.isArray(v)) json = v as Record<string, unknown>;
            } catch {
              json = undefined;
            }
            const c: DvdcliCall = { endpoint, body: body ?? null, status: res.statusCode ?? 0, reply: json ?? text };
            this.calls.push(c);
            this.onCall?.(c);
            resolve({ status: res.statusCode ?? 0, json, text });
          });
          res.on('error', reject);
        },
      );
      req.on('error', (e) => reject(new DvdcliError(`${endpoint}: cannot reach the plugin at ${this.socketPath}: ${e.message}`)));
      req.end(payload);
    });
  }

  /** The plugin's Err (or the raw body of a non-200 reply), '' on success. */
  private static err(r: { status: number; json: Record<string, unknown> | undefined; text: string }): string {
    if (r.status !== 200) return (typeof r.json?.Err === 'string' && r.json.Err) || r.text.trim() || `HTTP ${r.status}`;
    if (!r.json) return `not JSON: ${r.text.slice(0, 200)}`;
    return typeof r.json.Err === 'string' ? r.json.Err : '';
  }

  async activate(): Promise<void> {
    const r = await this.call('Plugin.Activate');
    const impl = r.json?.Implements;
    if (r.status !== 200 || !Array.isArray(impl) || !impl.includes('VolumeDriver')) {
      throw new DvdcliError(`Plugin.Activate: not a volume driver (${r.status} ${r.text.trim().slice(0, 200)})`);
    }
  }

  private async get(name: string): Promise<string> {
    return DvdcliClient.err(await this.call('VolumeDriver.Get', { Name: name }));
  }

  /** `dvdcli mount`: returns the mountpoint. */
  async mount(name: string, opts: Record<string, string> | null, explicitCreate = false): Promise<string> {
    await this.activate();
    const getErr = await this.get(name);
    if (getErr !== '') {
      if (explicitCreate) throw new DvdcliError(`volume ${name} does not exist and --explicitcreate is set: ${getErr}`);
      const c = await this.call('VolumeDriver.Create', { Name: name, Opts: opts && Object.keys(opts).length > 0 ? opts : null });
      const err = DvdcliClient.err(c);
      if (err) throw new DvdcliError(`create ${name}: ${err}`);
    }
    const m = await this.call('VolumeDriver.Mount', { Name: name });
    const err = DvdcliClient.err(m);
    if (err) throw new DvdcliError(`mount ${name}: ${err}`);
    const mp = m.json?.Mountpoint;
    if (typeof mp !== 'string' || mp === '') throw new DvdcliError(`mount ${name}: the plugin returned no mountpoint`);
    return mp;
  }

  /** `dvdcli unmount`. */
  async unmount(name: string): Promise<void> {
    await this.activate();
    const getErr = await this.get(name);
    if (getErr) throw new DvdcliError(`get ${name}: ${getErr}`);
    const err = DvdcliClient.err(await this.call('VolumeDriver.Unmount', { Name: name }));
    if (err) throw new DvdcliError(`unmount ${name}: ${err}`);
  }

  /** `dvdcli remove`. */
  async remove(name: string): Promise<void> {
    await this.activate();
    const getErr = await this.get(name);
    if (getErr) throw new DvdcliError(`get ${name}: ${getErr}`);
    const err = DvdcliClient.err(await this.call('VolumeDriver.Remove', { Name: name }));
    if (err) throw new DvdcliError(`remove ${name}: ${err}`);
  }

  /** `dvdcli list`: volume names. */
  async list(): Promise<string[]> {
    await this.activate();
    const r = await this.call('VolumeDriver.List', {});
    const err = DvdcliClient.err(r);
    if (err) throw new DvdcliError(`list: ${err}`);
    return ((r.json?.Volumes as Array<{ Name: string }> | undefined) ?? []).map((v) => v.Name);
  }
}

// ---------------------------------------------------------------------------------------------------
// The command line, with dvdcli's flag names (`--flag=value` or `--flag value`; --volumeopts repeats).

export interface DvdcliArgs {
  command: 'mount' | 'unmount' | 'remove' | 'list';
  volumedriver: string;
  volumename: string;
  volumeopts: Record<string, string>;
  explicitcreate: boolean;
}

export function parseDvdcliArgs(argv: string[]): DvdcliArgs {
  const [command, ...rest] = argv;
  if (command !== 'mount' && command !== 'unmount' && command !== 'remove' && command !== 'list') {
    throw new DvdcliError(
      `usage: dvdcli mount|unmount|remove|list --volumedriver=<driver> --volumename=<name> [--volumeopts=k=v ...] (got ${command ?? 'nothing'})`,
    );
  }
  const out: DvdcliArgs = { command, volumedriver: '', volumename: '', volumeopts: {}, explicitcreate: false };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const m = /^--([a-z]+)(?:=(.*))?$/s.exec(a);
    if (!m) throw new DvdcliError(`unexpected argument ${a}`);
    const flag = m[1]!;
    const value = m[2] ?? rest[++i];
    if (value === undefined) throw new DvdcliError(`--${flag} needs a value`);
    if (flag === 'volumedriver') out.volumedriver = value;
    else if (flag === 'volumename') out.volumename = value;
    else if (flag === 'explicitcreate') out.explicitcreate = value === 'true';
    else if (flag === 'volumeopts') {
      const eq = value.indexOf('=');
      if (eq <= 0) throw new DvdcliError(`--volumeopts ${value}: expected key=value`);
      out.volumeopts[value.slice(0, eq)] = value.slice(eq + 1);
    } else throw new DvdcliError(`unknown flag --${flag}`);
  }
  if (!out.volumedriver) throw new DvdcliError('--volumedriver is required');
  if (command !== 'list' && !out.volumename) throw new DvdcliError('--volumename is required');
  return out;
}

export async function dvdcliMain(
  argv: string[],
  io: { out: (s: string) => void; err: (s: string) => void } = {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
  },
): Promise<number> {
  try {
    const args = parseDvdcliArgs(argv);
    const trace = process.env.DVDCLI_TRACE === '1';
    const client = new DvdcliClient(
      discoverPlugin(args.volumedriver),
      trace ? (c) => io.err(`dvdcli-trace ${JSON.stringify(c)}\n`) : undefined,
    );
    switch (args.command) {
      case 'mount':
        io.out((await client.mount(args.volumename, args.volumeopts, args.explicitcreate)) + '\n');
        break;
      case 'unmount':
        await client.unmount(args.volumename);
        break;
      case 'remove':
        await client.remove(args.volumename);
        break;
      case 'list':
        io.out((await client.list()).map((n) => n + '\n').join(''));
        break;
    }
    return 0;
  } catch (e) {
    io.err(`dvdcli: ${(e as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  void dvdcliMain(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
