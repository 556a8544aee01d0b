import { ProxyError } from '../errors.js';

/** The nine calls of the Docker volume plugin protocol (all `POST /<Method>`). */
export const ENDPOINTS = [
  'Plugin.Activate',
  'VolumeDriver.Create',
  'VolumeDriver.Remove',
  'VolumeDriver.Mount',
  'VolumeDriver.Unmount',
  'VolumeDriver.Path',
  'VolumeDriver.Get',
  'VolumeDriver.List',
  'VolumeDriver.Capabilities',
] as const;

export type Endpoint = (typeof ENDPOINTS)[number];

export function isEndpoint(s: string): s is Endpoint {
  return (ENDPOINTS as readonly string[]).includes(s);
}

/** A request body, checked for its endpoint's shape. Unknown fields are dropped, never forwarded. */
export interface PluginRequest {
  Name: string;
  Opts?: unknown;
  ID?: string;
}

const MAX_NAME_LENGTH = 65_536;
/** The mount ID dockerd generates (stringid.GenerateRandomID): 32 random bytes in lowercase hex. */
const MOUNT_ID_RE = /^[0-9a-f]{64}$/;

/**
 * Decode and check a body. Docker resends a *zero-length* body when a call is retried after a broken
 * connection, so an empty or malformed body must become an Err and never a Create or a Mount.
 * List and Capabilities carry nothing (`{}`) and are read-only: an empty body is accepted there,
 * so a retried `docker volume ls` still works.
 */
export function decodeBody(endpoint: Endpoint, body: Buffer): PluginRequest | undefined {
  if (endpoint === 'Plugin.Activate') return undefined;
  const readOnlyNoArgs = endpoint === 'VolumeDriver.List' || endpoint === 'VolumeDriver.Capabilities';
  const text = body.toString('utf8');
  if (text.trim() === '') {
    if (readOnlyNoArgs) return undefined;
    throw new ProxyError('BODY_EMPTY', `${endpoint} arrived with an empty body (a retried request?); nothing was done`);
  }
  if (body.includes(0xff) || body.includes(0xfe) || text.includes('\uFFFD')) {
    throw new ProxyError('BODY_NOT_JSON', `${endpoint} body is not valid UTF-8 JSON; nothing was done`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ProxyError('BODY_NOT_JSON', `${endpoint} body is not JSON; nothing was done`);
  }
  if (readOnlyNoArgs) {
    if (v === null || (typeof v === 'object' && !Array.isArray(v))) return undefined;
    throw new ProxyError('BODY_INVALID', `${endpoint} body must be a JSON object`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new ProxyError(
      'BODY_INVALID',
      `${endpoint} body must be a JSON object with a Name; got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`,
    );
  }
  const o = v as Record<string, unknown>;
  if (typeof o.Name !== 'string') {
    throw new ProxyError(
      'BODY_INVALID',
      `${endpoint} body needs "Name" as a string${o.Name === undefined ? '' : `, got ${o.Name === null ? 'null' : typeof o.Name}`}`,
    );
  }
  if (o.Name === '') throw new ProxyError('BODY_INVALID', `${endpoint} body has an empty "Name"`);
  if (o.Name.length > MAX_NAME_LENGTH)
    throw new ProxyError('BODY_INVALID', `${endpoint} "Name" is longer than ${MAX_NAME_LENGTH} characters`);
  const req: PluginRequest = { Name: o.Name };
  if (endpoint === 'VolumeDriver.Create') req.Opts = o.Opts ?? null;
  if (endpoint === 'VolumeDriver.Mount' || endpoint === 'VolumeDriver.Unmount') {
    // pxd builds the mountpoint as <root>/<volume><ID>: an ID is an identifier, never a path. dockerd
    // sends 64 lowercase hex characters; dvdcli sends none (a Go client may send "").
    if (o.ID !== undefined && o.ID !== null && o.ID !== '') {
      if (typeof o.ID !== 'string' || !MOUNT_ID_RE.test(o.ID)) {
        const shown = typeof o.ID === 'string' ? `${o.ID.length} characters that are not all lowercase hex` : `a ${typeof o.ID}`;
        throw new ProxyError(
          'BODY_INVALID',
          `${endpoint} "ID" must be 64 lowercase hex characters, as dockerd sends, or absent; got ${shown}; nothing was done`,
        );
      }
      req.ID = o.ID;
    }
  }
  return req;
}
