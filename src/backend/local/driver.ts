import http from 'node:http';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { isProxyError } from '../../errors.js';
import type { VerifiedToken } from '../../tokens/types.js';
import { isEndpoint } from '../../plugin/protocol.js';
import { listenPlugin } from '../../plugin/server.js';
import { removeDeadTempFiles, writeFileAtomic } from '../../lib/atomic-file.js';

/**
 * The built-in volume driver behind `--backend local:<dir>`: it behaves like pxd with auth on (reads
 * `token=` from the Name, or from Opts for a bare name on Create; verifies it; enforces ownership by
 * the username claim; echoes the Name on Get) and keeps each volume as a real folder under
 * `<dir>/mounts/<name>`. It listens on its own private socket, so the proxy forwards to it exactly as
 * it does to pxd. Meant for trying the proxy and for single hosts; it has no replication.
 */

interface LocalVolume {
  name: string;
  owner: string;
  createdAt: string;
  options: Record<string, string>;
}

export interface LocalDriverOptions {
  dir: string;
  verify: (token: string) => Promise<VerifiedToken>;
  logger: Logger;
}

const NAME_RE = /name=([0-9A-Za-z_-]+)/;
const TOKEN_RE = /(?:^|,)token=([^,]+)/;
const LIFECYCLE_ROLES = new Set(['system.admin', 'system.user']);

class DriverError extends Error {}

export class LocalDriver {
  readonly socketPath: string;
  readonly mountsDir: string;
  private readonly dbFile: string;
  private volumes = new Map<string, LocalVolume>();
  private readonly mounts = new Map<string, Set<string>>();
  private server?: http.Server;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LocalDriverOptions) {
    this.socketPath = path.join(opts.dir, 'driver.sock');
    this.mountsDir = path.join(opts.dir, 'mounts');
    this.dbFile = path.join(opts.dir, 'volumes.json');
  }

  async start(): Promise<void> {
    await fsp.mkdir(this.mountsDir, { recursive: true, mode: 0o755 });
    await removeDeadTempFiles(this.dbFile);
    try {
      const list = JSON.parse(await fsp.readFile(this.dbFile, 'utf8')) as LocalVolume[];
      this.volumes = new Map(list.map((v) => [v.name, v]));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${this.dbFile}: ${(e as Error).message}`);
    }
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const endpoint = (req.url ?? '').replace(/^\/+/, '');
        this.route(endpoint, Buffer.concat(chunks).toString('utf8')).then(
          (body) => reply(res, 200, body),
          (e) => reply(res, 200, { Err: e instanceof DriverError || isProxyError(e) ? (e as Error).message : 'internal error' }),
        );
      });
    });
    await listenPlugin(this.server, { socketPath: this.socketPath });
    await fsp.chmod(this.socketPath, 0o600);
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections();
    await this.chain;
    await fsp.rm(this.socketPath, { force: true });
  }

  private async route(endpoint: string, text: string): Promise<Record<string, unknown>> {
    if (!isEndpoint(endpoint)) throw new DriverError(`unknown endpoint ${endpoint}`);
    if (endpoint === 'Plugin.Activate') return { Implements: ['VolumeDriver'] };
    if (endpoint === 'VolumeDriver.Capabilities') return { Capabilities: { Scope: 'local' } };
    if (endpoint === 'VolumeDriver.List') {
      return {
        Volumes: [...this.volumes.values()].map((v) => ({ Name: v.name, Mountpoint: this.mounted(v.name) ? this.mountpoint(v.name) : '' })),
        Err: '',
      };
    }
    let body: { Name?: unknown; Opts?: Record<string, string> | null; ID?: string };
    try {
      body = JSON.parse(text);
    } catch {
      throw new DriverError('Unable to decode JSON payload');
    }
    if (typeof body?.Name !== 'string') throw new DriverError('Name is required');
    const raw = body.Name;
    const inline = NAME_RE.exec(raw);
    const name = inline ? inline[1]! : raw;
    switch (endpoint) {
      case 'VolumeDriver.Get': {
        const v = this.volumes.get(name);
        if (!v) throw new DriverError(`Failed to locate volume: cannot locate volume with name ${name}`);
        return {
          Volume: {
            Name: raw,
            Mountpoint: this.mounted(name) ? this.mountpoint(name) : '',
            CreatedAt: v.createdAt,
            Status: { owner: v.owner },
          },
          Err: '',
        };
      }
      case 'VolumeDriver.Path':
        if (!this.volumes.has(name)) throw new DriverError(`Failed to locate volume: cannot locate volume with name ${name}`);
        return { Mountpoint: this.mountpoint(name), Err: '' };
      case 'VolumeDriver.Unmount': {
        if (!this.volumes.has(name)) throw new DriverError(`Failed to locate volume: cannot locate volume with name ${name}`);
        const ids = this.mounts.get(name);
        if (ids) {
          ids.delete(body.ID ?? '');
          if (ids.size === 0) this.mounts.delete(name);
        }
        return { Err: '' };
      }
      default:
        break;
    }
    // Create, Remove, Mount: authenticated, as pxd with auth on.
    const token = TOKEN_RE.exec(raw)?.[1] ?? (endpoint === 'VolumeDriver.Create' && !inline ? body.Opts?.token : undefined);
    if (!token) throw new DriverError('rpc error: code = Unauthenticated desc = Unable to obtain token issuer from authorization token');
    let user: VerifiedToken;
    try {
      user = await this.opts.verify(token);
    } catch {
      throw new DriverError('rpc error: code = PermissionDenied desc = Unable to authenticate token');
    }
    if (!user.roles.some((r) => LIFECYCLE_ROLES.has(r))) {
      throw new DriverError(`rpc error: code = PermissionDenied desc = Access denied to roles: [${user.roles.join(' ') || 'system.view'}]`);
    }
    const admin = user.groups.includes('*') || user.roles.includes('system.admin');
    const v = this.volumes.get(name);
    const owns = v !== undefined && (v.owner === user.username || admin);
    switch (endpoint) {
      case 'VolumeDriver.Create': {
        if (v) {
          if (!owns)
            throw new DriverError(`rpc error: code = PermissionDenied desc = Volume ${name} already exists and is owned by another user`);
          return { Err: '' };
        }
        const options = inline ? optionsOf(raw) : { ...(body.Opts ?? {}) };
        delete options.token;
        await fsp.mkdir(this.mountpoint(name), { recursive: true, mode: 0o755 });
        this.volumes.set(name, { name, owner: user.username, createdAt: new Date().toISOString(), options });
        await this.save();
        this.opts.logger.info({ volume: name, owner: user.username }, 'local driver: volume created');
        return { Err: '' };
      }
      case 'VolumeDriver.Remove': {
        if (!owns) throw new DriverError(`Cannot locate volume with name ${name}`);
        if (this.mounted(name)) throw new DriverError(`volume ${name} is mounted by ${this.mounts.get(name)!.size} container(s)`);
        this.volumes.delete(name);
        await this.save();
        await fsp.rm(this.mountpoint(name), { recursive: true, force: true });
        return { Err: '' };
      }
      default: {
        if (!v) throw new DriverError(`rpc error: code = NotFound desc = Volume id ${name} not found`);
        if (!owns) throw new DriverError(`rpc error: code = PermissionDenied desc = Access denied to volume ${name}`);
        const ids = this.mounts.get(name) ?? new Set<string>();
        ids.add(body.ID ?? '');
        this.mounts.set(name, ids);
        await fsp.mkdir(this.mountpoint(name), { recursive: true, mode: 0o755 });
        return { Mountpoint: this.mountpoint(name), Err: '' };
      }
    }
  }

  private mountpoint(name: string): string {
    return path.join(this.mountsDir, name);
  }

  private mounted(name: string): boolean {
    return (this.mounts.get(name)?.size ?? 0) > 0;
  }

  private save(): Promise<void> {
    const write = () => writeFileAtomic(this.dbFile, JSON.stringify([...this.volumes.values()], null, 2) + '\n', { mode: 0o600 });
    const p = this.chain.then(write, write);
    this.chain = p.catch(() => undefined);
    return p;
  }
}

function optionsOf(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const piece of raw.split(',')) {
    const i = piece.indexOf('=');
    if (i > 0) out[piece.slice(0, i)] = piece.slice(i + 1);
  }
  return out;
}

function reply(res: http.ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
