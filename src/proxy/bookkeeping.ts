/**
 * The state file's part in the authenticated calls, one call on each side of pxd: what must be on
 * disk before pxd acts (a -o token_secret reference exists nowhere else), and what is noted once it
 * acted (List's names), which never turns a done request into a failure.
 */
import { ProxyError, asProxyError } from '../errors.js';
import type { Endpoint } from '../plugin/protocol.js';
import { parseName } from '../volume-name/index.js';
import type { TokenSource } from '../tokens/types.js';
import type { StateStore } from '../state/store.js';
import type { ProxyDeps } from './types.js';

/** pxd volume name → the Docker names (in clear) the proxy has seen for it. */
export function dockerNamesByVolume(state: Pick<StateStore, 'clearNames'>): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const n of state.clearNames()) {
    let vol = n;
    try {
      vol = parseName(n).volumeName;
    } catch {
      // A name pxd cannot read as a spec is its own volume name.
    }
    map.set(vol, [...(map.get(vol) ?? []), n]);
  }
  return map;
}

export class Bookkeeping {
  constructor(private readonly deps: Pick<ProxyDeps, 'state' | 'logger' | 'registry'>) {}

  /**
   * Before pxd creates anything: a reference given with -o token_secret exists only in this request
   * (Docker sends options to Create only), so it is recorded first, in the cluster's registry when
   * there is one and in this agent's state file, or the Create is refused. A volume keeps the secret
   * it was first recorded with: a Create naming another one is refused (REFERENCE_CONFLICT). Returns
   * what puts everything back as it was if pxd then refuses the Create.
   */
  async beforeForward(
    endpoint: Endpoint,
    dockerName: string,
    volumeName: string,
    source: TokenSource,
    subject: string,
  ): Promise<(() => Promise<void>) | undefined> {
    if (endpoint !== 'VolumeDriver.Create' || source.kind !== 'opts-secret') return undefined;
    const { state, registry } = this.deps;
    const previous = state.get(dockerName);
    const conflict = (recorded: string, where: string): ProxyError =>
      new ProxyError(
        'REFERENCE_CONFLICT',
        `volume ${volumeName} is recorded ${where} with token secret ${recorded}, not ${source.secretPath}; a Create never retargets a volume: ` +
          `create it with -o token_secret=${recorded}, or remove it first`,
        { volume: volumeName, secretPath: recorded },
      );
    if (previous?.secretPath !== undefined && previous.secretPath !== source.secretPath)
      throw conflict(previous.secretPath, 'on this node');
    let created = false;
    if (registry) {
      const reference = { secretPath: source.secretPath, subject, createdAt: new Date().toISOString() };
      const r = await registry.createIfAbsent(volumeName, reference);
      if (!r.created && r.existing.secretPath !== source.secretPath)
        throw conflict(r.existing.secretPath, `in the cluster (${registry.description})`);
      created = r.created;
    }
    try {
      await state.remember(dockerName, source.secretPath);
    } catch (e) {
      if (created) await this.bestEffort(registry!.remove(volumeName), 'the cluster record of a refused Create could not be deleted');
      throw e;
    }
    return async () => {
      if (created) {
        await this.bestEffort(
          registry!.remove(volumeName),
          `pxd refused the Create, and the cluster record of volume ${volumeName} could not be deleted: delete it (dcos security secrets delete) before creating the volume with another secret`,
        );
      }
      await this.bestEffort(
        previous ? state.remember(dockerName, previous.secretPath ?? null) : state.forget(dockerName),
        'the state file could not be put back after pxd refused the Create; it may name a reference for a volume that does not exist',
      );
    };
  }

  /**
   * After pxd did it: the names List shows, a reference read from the cluster kept here as a cache,
   * and after a Remove the volume's records forgotten, in the cluster too.
   */
  async afterDone(endpoint: Endpoint, dockerName: string, volumeName: string, source: TokenSource): Promise<void> {
    const { state, registry } = this.deps;
    if (endpoint === 'VolumeDriver.Remove') {
      await this.bestEffort(state.forget(dockerName, ...(dockerNamesByVolume(state).get(volumeName) ?? [])));
      if (registry) {
        await this.bestEffort(
          registry.remove(volumeName),
          `volume ${volumeName} was removed, but its cluster record could not be deleted: a later Create of the name with another secret will be refused until it is`,
        );
      }
      return;
    }
    if (source.kind === 'registry-secret' && state.get(dockerName)?.secretPath !== source.secretPath) {
      await this.bestEffort(state.remember(dockerName, source.secretPath));
    } else if (endpoint === 'VolumeDriver.Create') await this.bestEffort(state.remember(dockerName));
  }

  private async bestEffort(write: Promise<void>, why = 'the state file was not updated; the request itself was done'): Promise<void> {
    await write.catch((e) => {
      const err = asProxyError(e);
      this.deps.logger.warn({ code: err.code, detail: err.message }, why);
    });
  }
}
