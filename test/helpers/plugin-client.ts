import { createHash } from 'node:crypto';
import http from 'node:http';

/**
 * A mount ID shaped as dockerd sends it (64 lowercase hex characters), derived from a short tag so a
 * test can name it: `mountId('c1')` is always the same ID.
 */
export function mountId(tag: string): string {
  return createHash('sha256').update(tag).digest('hex');
}

export interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json?: any;
}

/**
 * Call a plugin socket the way dockerd does: POST, `Accept: application/vnd.docker.plugins.v1.2+json`,
 * no Content-Type, an empty Host, a JSON body with a trailing newline. `agent: false` gives a fresh
 * connection per call, as dvdcli does.
 */
export function callPlugin(
  socketPath: string,
  endpoint: string,
  body?: unknown,
  opts: { raw?: string | Buffer; method?: string; freshConnection?: boolean } = {},
): Promise<RawReply> {
  const payload = opts.raw !== undefined ? opts.raw : body === undefined ? '' : JSON.stringify(body) + '\n';
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        method: opts.method ?? 'POST',
        path: `/${endpoint}`,
        headers: { Host: '', Accept: 'application/vnd.docker.plugins.v1.2+json', 'Content-Length': Buffer.byteLength(payload) },
        agent: opts.freshConnection === false ? undefined : false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
