/**
 * Volume references kept where every agent can read them: one record per volume in the DC/OS Secret
 * Store, at `<folder>/<volume>` (default `pxd-auth-proxy/volumes`). A record is a small JSON text with
 * the secret path and who created the volume, never a token. Records are created if absent, never
 * retargeted, and deleted once pxd removed the volume.
 */
import { ProxyError } from '../../errors.js';
import { secretPathSegments } from '../../volume-name/index.js';
import type { ReferenceRegistry, VolumeReference } from '../types.js';
import type { DcosSecretStore } from './store.js';

export const DEFAULT_REFERENCES_FOLDER = 'pxd-auth-proxy/volumes';

export class DcosReferenceRegistry implements ReferenceRegistry {
  readonly description: string;

  constructor(
    private readonly store: DcosSecretStore,
    readonly folder: string,
  ) {
    this.description = `${folder}/ in the DC/OS Secret Store at ${store.config.url}`;
  }

  pathOf(volume: string): string {
    return `${this.folder}/${volume}`;
  }

  async get(volume: string, signal?: AbortSignal): Promise<{ reference: VolumeReference; stale: boolean } | undefined> {
    const path = this.pathOf(volume);
    const read = await this.store.readRecord(path, signal);
    return read ? { reference: decodeReference(read.value, path), stale: read.stale === true } : undefined;
  }

  async createIfAbsent(volume: string, reference: VolumeReference): Promise<{ created: boolean; existing: VolumeReference }> {
    const path = this.pathOf(volume);
    if ((await this.store.createRecord(path, encodeReference(reference))) === 'created') return { created: true, existing: reference };
    // Another Create (here or on another agent) recorded it first: read what it wrote, fresh.
    this.store.forgetRecord(path);
    const existing = await this.store.readRecord(path);
    if (!existing) {
      throw new ProxyError('SECRET_STORE_UNAVAILABLE', `the record ${path} was reported to exist but could not be read back; try again`, {
        secretPath: path,
      });
    }
    return { created: false, existing: decodeReference(existing.value, path) };
  }

  async remove(volume: string): Promise<void> {
    await this.store.deleteRecord(this.pathOf(volume));
  }
}

export function encodeReference(r: VolumeReference): string {
  return JSON.stringify({ secretPath: r.secretPath, subject: r.subject, createdAt: r.createdAt });
}

/** A record as written by encodeReference; anything else (hand-edited, another program's) is refused. */
export function decodeReference(text: string, path: string): VolumeReference {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = undefined;
  }
  const o = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  const invalid = (why: string): ProxyError =>
    new ProxyError(
      'REFERENCE_INVALID',
      `the record ${path} in the DC/OS Secret Store ${why}; delete it and create the volume again with -o token_secret`,
      { secretPath: path },
    );
  if (typeof o.secretPath !== 'string') throw invalid('holds no secretPath');
  try {
    secretPathSegments(o.secretPath);
  } catch {
    throw invalid('names a secret path that is not valid');
  }
  const out: VolumeReference = { secretPath: o.secretPath };
  if (typeof o.subject === 'string') out.subject = o.subject;
  if (typeof o.createdAt === 'string') out.createdAt = o.createdAt;
  return out;
}
