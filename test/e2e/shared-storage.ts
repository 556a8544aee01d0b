/**
 * A thin stand-in for pxd's storage, between the proxy and the pxd double.
 *
 * Real pxd mounts one block device per volume: every Mountpoint it hands out for a volume
 * (`<root>/<name><ID>`, one per container) shows the same files. The pxd double only `mkdir`s each
 * mountpoint, so a file written by one container would be invisible to the next. This forwarder passes
 * every request and reply through byte for byte, and after a successful Mount turns the fresh, empty
 * mountpoint folder into a symlink to the volume's one data folder (`<root>/.volumes/<volume name>`), so
 * containers see each other's writes as they would on pxd. Nothing else is changed: the proxy still sees
 * the Mountpoint pxd gave, and every request still reaches the double.
 */
import http from 'node:http';
import { lstatSync, mkdirSync, readdirSync, rmdirSync, symlinkSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { Socket } from 'node:net';
import type { PxdDouble } from '../doubles/pxd/server.js';

export interface SharedStorage {
  socketPath: string;
  /** Where the volume's data lives on the host. */
  dataDir(volumeName: string): string;
  /** Mountpoints linked so far (mountpoint → volume name). */
  linked: Map<string, string>;
  /** Every request passed on, in order: the endpoint and the pxd volume it names (`name=` of the Name, or the Name); never a token. */
  requests: Array<{ endpoint: string; volume?: string }>;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

/** The pxd volume a plugin request names: `name=` of an inline spec, else the whole Name (kept only when it holds no token). */
function volumeNamed(body: Buffer): { volume?: string } {
  let name: unknown;
  try {
    name = (JSON.parse(body.toString('utf8')) as { Name?: unknown }).Name;
  } catch {
    return {};
  }
  if (typeof name !== 'string') return {};
  const inline = /(?:^|,)name=([^,]*)/.exec(name);
  if (inline) return { volume: inline[1]! };
  return /token/i.test(name) ? {} : { volume: name };
}

export async function startSharedStorage(opts: { socketPath: string; pxd: PxdDouble; mountsRoot: string }): Promise<SharedStorage> {
  const volumesDir = path.join(opts.mountsRoot, '.volumes');
  mkdirSync(volumesDir, { recursive: true });
  const linked = new Map<string, string>();
  const requests: SharedStorage['requests'] = [];
  const agent = new http.Agent({ keepAlive: true });
  const sockets = new Set<Socket>();

  const dataDir = (name: string) => path.join(volumesDir, name);

  /** The pxd volume a Mountpoint belongs to (the double records it in attachPaths). */
  const volumeOf = (mountpoint: string): string | undefined => {
    for (const v of opts.pxd.volumes.values()) if (v.attachPaths.includes(mountpoint)) return v.name;
    return undefined;
  };

  const link = (mountpoint: string): void => {
    if (!mountpoint.startsWith(opts.mountsRoot + '/')) return;
    const name = volumeOf(mountpoint);
    if (name === undefined) return;
    let st;
    try {
      st = lstatSync(mountpoint);
    } catch {
      return;
    }
    if (st.isSymbolicLink()) return; // already linked (an idempotent second Mount)
    if (!st.isDirectory() || readdirSync(mountpoint).length > 0) return; // never hide data
    mkdirSync(dataDir(name), { recursive: true });
    rmdirSync(mountpoint);
    symlinkSync(dataDir(name), mountpoint);
    linked.set(mountpoint, name);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ endpoint: req.url ?? '', ...volumeNamed(body) });
      const headers: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
      headers['content-length'] = body.length;
      const up = http.request(
        { socketPath: opts.pxd.socketPath, method: req.method, path: req.url, headers, agent, setHost: false },
        (upRes) => {
          const out: Buffer[] = [];
          upRes.on('data', (c: Buffer) => out.push(c));
          upRes.on('end', () => {
            const reply = Buffer.concat(out);
            if (req.url === '/VolumeDriver.Mount' && upRes.statusCode === 200) {
              try {
                const j = JSON.parse(reply.toString('utf8')) as { Mountpoint?: unknown; Err?: unknown };
                if (typeof j.Mountpoint === 'string' && !j.Err) link(j.Mountpoint);
              } catch {
                /* not JSON: passed through as is */
              }
            }
            const h: http.OutgoingHttpHeaders = {};
            for (const [k, v] of Object.entries(upRes.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) h[k] = v;
            h['content-length'] = reply.length;
            res.writeHead(upRes.statusCode ?? 502, h);
            res.end(reply);
          });
          upRes.on('error', () => res.destroy());
        },
      );
      // The double dropped the connection (its fault switches): drop ours too, as pxd would be seen.
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  server.keepAliveTimeout = 0;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  try {
    unlinkSync(opts.socketPath);
  } catch {
    /* none */
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    socketPath: opts.socketPath,
    dataDir,
    linked,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
        agent.destroy();
      }),
  };
}
