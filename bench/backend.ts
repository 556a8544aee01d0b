/**
 * A trivial, fast volume plugin for the benchmark: it answers every call of the protocol at once
 * (no storage, no token check), so that what the benchmark measures through pxd-auth-proxy is the
 * proxy's own cost. Run as its own process so its CPU is not the proxy's:
 *
 *   node --import tsx bench/backend.ts <socket> <mounts root>
 *
 * It prints `ready` on stdout once it listens. Volumes live in a Map; Mount answers
 * <mounts root>/<volume>, the shape pxd answers and the proxy checks.
 */
import http from 'node:http';
import { rmSync } from 'node:fs';

const [socket, mountsRoot] = process.argv.slice(2) as [string, string];
if (!socket || !mountsRoot) {
  process.stderr.write('usage: backend.ts <socket> <mounts root>\n');
  process.exit(2);
}

const TYPE = { 'Content-Type': 'application/vnd.docker.plugins.v1.2+json' };
const created = new Map<string, string>();

/** pxd's reading of a Name: the value of name= in an inline spec, else the whole Name. */
function volumeOf(name: string): string {
  const m = /(?:^|,)name=([^,]*)/.exec(name);
  return m ? m[1]! : name;
}

function answer(endpoint: string, body: { Name?: string }): unknown {
  const vol = typeof body.Name === 'string' ? volumeOf(body.Name) : '';
  switch (endpoint) {
    case 'Plugin.Activate':
      return { Implements: ['VolumeDriver'] };
    case 'VolumeDriver.Capabilities':
      return { Capabilities: { Scope: 'global' } };
    case 'VolumeDriver.Create':
      created.set(vol, new Date().toISOString());
      return { Err: '' };
    case 'VolumeDriver.Remove':
      created.delete(vol);
      return { Err: '' };
    case 'VolumeDriver.Get':
      return { Volume: { Name: vol, Mountpoint: `${mountsRoot}/${vol}`, CreatedAt: created.get(vol) ?? '2026-01-01T00:00:00Z' }, Err: '' };
    case 'VolumeDriver.List':
      return { Volumes: [...created.keys()].map((n) => ({ Name: n, Mountpoint: `${mountsRoot}/${n}` })), Err: '' };
    case 'VolumeDriver.Mount':
    case 'VolumeDriver.Path':
      return { Mountpoint: `${mountsRoot}/${vol}`, Err: '' };
    case 'VolumeDriver.Unmount':
      return { Err: '' };
    default:
      return { Err: `unknown endpoint ${endpoint}` };
  }
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body: { Name?: string } = {};
    try {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim()) body = JSON.parse(text) as { Name?: string };
    } catch {
      // Answered below with an Err like any plugin.
      body = {};
    }
    const text = JSON.stringify(answer((req.url ?? '/').slice(1), body));
    res.writeHead(200, { ...TYPE, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  });
});
server.keepAliveTimeout = 10 * 60_000;
rmSync(socket, { force: true });
server.listen(socket, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
