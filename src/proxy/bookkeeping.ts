/**
 * The state file's part in the authenticated calls, one call on each side of pxd: what must be on
 * disk before pxd acts (a -o token_secret reference exists nowhere else), and what is noted once it
 * acted (List's names), which never turns a done request into a failure.
 */
import { asProxyError } from '../errors.js';
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
  constructor(private readonly deps: Pick<ProxyDeps, 'state' | 'logger'>) {}

  /**
   * Before pxd creates anything: a reference given with -o token_secret exists only in this request
   * (Docker sends options to Create only), so it is written first or the Create is refused. Returns
   * what puts the state back if pxd then refuses.
   */
  async beforeForward(endpoint: Endpoint, dockerName: string, source: TokenSource): Promise<(() => Promise<void>) | undefined> {
    if (endpoint !== 'VolumeDriver.Create' || source.kind !== 'opts-secret') return undefined;
    const { state } = this.deps;
    const previous = state.get(dockerName);
    await state.remember(dockerName, source.secretPath);
    return () =>
      this.bestEffort(
        previous ? state.remember(dockerName, previous.secretPath ?? null) : state.forget(dockerName),
        'the state file could not be put back after pxd refused the Create; it may name a reference for a volume that does not exist',
      );
  }

  /** After pxd did it: the names List shows. */
  async afterDone(endpoint: Endpoint, dockerName: string, volumeName: string): Promise<void> {
    const { state } = this.deps;
    if (endpoint === 'VolumeDriver.Create') await this.bestEffort(state.remember(dockerName));
    if (endpoint === 'VolumeDriver.Remove')
      await this.bestEffort(state.forget(dockerName, ...(dockerNamesByVolume(state).get(volumeName) ?? [])));
  }

  private async bestEffort(write: Promise<void>, why = 'the state file was not updated; the request itself was done'): Promise<void> {
    await write.catch((e) => {
      const err = asProxyError(e);
      this.deps.logger.warn({ code: err.code, detail: err.message }, why);
    });
  }
}
