import path from 'node:path';
import { ProxyError } from '../errors.js';
import { scrub } from '../audit/scrub.js';
import type { BackendReply } from './client.js';

/**
 * A Mountpoint Docker will bind into a container. An empty or relative one makes dockerd 20.10 bind
 * the container's own runtime bundle (with its env) instead: it must be absolute, normalized and
 * strictly under the backend's mounts root.
 */
export function checkMountpoint(mp: unknown, mountsRoot: string): string | undefined {
  if (typeof mp !== 'string' || mp === '') return 'it is empty';
  if (mp.includes('\0')) return 'it contains a NUL byte';
  if (!mp.startsWith('/')) return 'it is not an absolute path';
  if (path.posix.normalize(mp) !== mp || mp.endsWith('/')) return 'it is not a normalized path';
  if (!mp.startsWith(mountsRoot + '/')) return `it is not under ${mountsRoot}`;
  return undefined;
}

export function unsafeMountpoint(volume: string, mp: unknown, why: string, mountsRoot: string, backend: string): ProxyError {
  const shown = typeof mp === 'string' ? JSON.stringify(scrub(mp).slice(0, 200)) : String(mp);
  return new ProxyError(
    'MOUNTPOINT_INVALID',
    `${backend} returned the mountpoint ${shown} for volume ${volume}: ${why}; refusing it (mountpoints must be absolute paths under ${mountsRoot})`,
    { volume },
  );
}

/** Known pxd refusals, turned into texts that say what happened (pxd's own words kept, scrubbed). */
const DENIALS: Array<[RegExp, (v: string, user: string) => string]> = [
  [/Access denied to volume/i, (v, u) => `volume ${v} belongs to another user: ${u} may not use it`],
  [/already exists and is owned by another user/i, (v, u) => `volume ${v} already exists and belongs to another user than ${u}`],
  [/Access denied to roles/i, (_v, u) => `pxd refused the roles of ${u} for this operation`],
  [
    /Unable to authenticate token|is not a trusted issuer|Unable to obtain token issuer/i,
    () => 'pxd refused the token the proxy accepted: pxd and the proxy must trust the same issuers and keys',
  ],
];

/** Turn a backend refusal (200 with Err, or pxd's 400 text) into a ProxyError for the Docker user. */
export function backendRefusal(op: string, volume: string, user: string, backend: string, reply: BackendReply): ProxyError {
  const said = scrub((typeof reply.json?.Err === 'string' ? reply.json.Err : reply.text).trim()).slice(0, 500);
  for (const [re, text] of DENIALS) {
    if (re.test(said)) return new ProxyError('BACKEND_DENIED', `${text(volume, user)} (pxd: ${said})`, { volume });
  }
  if (op === 'remove' && /Cannot locate volume/i.test(said)) {
    return new ProxyError('BACKEND_ERROR', `volume ${volume} was not found, or belongs to another user than ${user} (pxd: ${said})`, {
      volume,
    });
  }
  return new ProxyError('BACKEND_ERROR', `${backend} could not ${op} volume ${volume}: ${said || `HTTP ${reply.status}`}`, { volume });
}

/** The Err text of a backend reply (200 with Err, or a non-200 text), scrubbed; '' on success. */
export function replyErr(reply: BackendReply): string {
  if (reply.status === 200 && reply.json) {
    const err = reply.json.Err;
    return typeof err === 'string' ? scrub(err) : '';
  }
  const text = typeof reply.json?.Err === 'string' && reply.json.Err ? reply.json.Err : reply.text.trim() || `HTTP ${reply.status}`;
  return scrub(text).slice(0, 1000);
}

export function badReply(backend: string, endpoint: string, reply: BackendReply): ProxyError {
  return new ProxyError(
    'BACKEND_BAD_REPLY',
    `${backend} answered ${endpoint} with something that is not a plugin reply (HTTP ${reply.status})`,
  );
}
